"""inception: only the published FID weights, and never by running a pickle's code."""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch

from zoo.errors import UsageError, ZooError
from zoo.features import get_extractor
from zoo.features.inception import URL, load_state_dict


def test_without_weights_the_error_says_where_to_get_them():
    with pytest.raises(UsageError, match=f"download {URL} and pass --weights PATH"):
        get_extractor("inception")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="no weights file at"):
        get_extractor("inception", weights=tmp_path / "nope.pth")


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(UsageError, match="is not the published FID Inception weights"):
        get_extractor("inception", weights=path)


class _Touch:
    """Unpickling this creates a file: a stand-in for any code a hostile pickle would run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_a_pickle_that_would_run_code_is_refused_even_with_a_matching_hash(tmp_path):
    path, marker = tmp_path / "evil.pth", tmp_path / "ran"
    path.write_bytes(pickle.dumps({"fc.weight": _Touch(marker)}, protocol=2))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ZooError, match="refusing to load it"):
        load_state_dict(path, expected_sha256=digest)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the plain unpickler would have run it
    assert marker.exists()


def test_a_checked_file_of_plain_tensors_loads(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"fc.weight": torch.ones(2, 2)}, path)
    state = load_state_dict(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert torch.equal(state["fc.weight"], torch.ones(2, 2))
