"""LoadedRun.sample: many images in bounded batches, still fixed by the seed."""

from __future__ import annotations

import torch

from zoo import runs
from zoo.runs import SAMPLE_BATCH


def test_many_samples_are_drawn_in_bounded_batches_and_a_seed_still_fixes_them(trained, monkeypatch):
    loaded = runs.load(trained)
    one_pass = loaded.model.sample
    passes = []

    def counted(n, seed=None, label=None):
        passes.append(n)
        return one_pass(n, seed=seed, label=label)

    monkeypatch.setattr(loaded.model, "sample", counted)
    n = 2 * SAMPLE_BATCH + 88
    images = loaded.sample(n, seed=5)
    assert images.shape[0] == n and passes == [SAMPLE_BATCH, SAMPLE_BATCH, 88]
    assert torch.equal(images[:SAMPLE_BATCH], one_pass(SAMPLE_BATCH, seed=5)), "the first batch is the model's own draw"
    assert torch.equal(images, loaded.sample(n, seed=5)), "the seed fixes every batch"
    assert not torch.equal(images[SAMPLE_BATCH : 2 * SAMPLE_BATCH], images[:SAMPLE_BATCH]), "later batches are new images"
    assert torch.equal(loaded.sample(64, seed=5), one_pass(64, seed=5)), "a small draw is one pass, as before"
