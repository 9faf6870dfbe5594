"""DenoiseSquare's local queries against their floor, in the same run: 300 queries on one
256x256 image over 300 whole forwards of the same model (float32, one torch thread, CPU thread
time). A model that declares its receptive field (:func:`~denoise_adv.models.contract.
receptive_field`) is run on the crop around each query's squares, so late queries (squares of
10-40 px) cost a fraction of a forward.

Targets: <= 0.25 for the zoo's DnCNN (radius 10), <= 0.55 for the published FFDNet (radius 31,
crops aligned to 2). Run with ``pytest benchmarks/test_bench_square.py -s`` (minutes: each
ratio times 4 runs of both sides).
"""

from __future__ import annotations

import pytest
import torch
from conftest import interleaved_ratio, noisy_batch

from denoise_adv import DenoiseSquare
from denoise_adv.models import pretrained

QUERIES = 300
TARGETS = {"dncnn-s25-normal": 0.25, "ffdnet-ipol-gray": 0.55}


def _forwards(model, noisy):
    def run():
        with torch.no_grad():
            for _ in range(QUERIES):
                model(noisy)

    return run


@pytest.mark.parametrize(("name", "target"), list(TARGETS.items()))
def test_square_queries_over_whole_forwards(name, target):
    model = pretrained(name).eval()
    noisy, clean = noisy_batch(256)
    atk = DenoiseSquare(model, eps=2 / 255, n_queries=QUERIES, seed=0)
    ratio, run, floor = interleaved_ratio(lambda: atk(noisy, clean), _forwards(model, noisy),
                                          repeats=3, warmup=1)
    print(f"\nSquare, {QUERIES} queries, {name} 256x256: {ratio:.3f} of {QUERIES} forwards "
          f"({run:.1f} s / {floor:.1f} s of thread time)")
    assert ratio <= target
