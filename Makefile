# Two commands for a fresh machine (see README.md):
#   make demo   create .venv, install zoo, train a DCGAN on the embedded digits, draw samples.png
#   make test   create .venv, install zoo with its test tools, check the import rules and lint, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU=1: a CPU-only install, PyTorch's CPU wheels and plain onnxruntime (see README, "Installing")
CPU ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ONNXRUNTIME := $(if $(CPU),cpu,gpu)

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(if $(CPU),$(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX))
	$(BIN)/python -m pip install -e '.[dev,$(ONNXRUNTIME)]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/zoo train dcgan --seed 0
	$(BIN)/zoo sample dcgan -n 64 --seed 0 --out samples.png

test: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/sample_speed.py
	$(BIN)/python benchmarks/speed_options.py
	$(BIN)/python benchmarks/vae_nll.py
	$(BIN)/python benchmarks/gan_stability.py
	$(BIN)/python benchmarks/reference_recipes.py --jobs 2
	$(BIN)/python benchmarks/recurrent.py
	$(BIN)/python benchmarks/data_scale.py

clean:
	rm -rf $(VENV) runs samples.png
