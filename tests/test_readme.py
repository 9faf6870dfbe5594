"""README.md's snippets run as written, and its two opening commands stay true."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
SECTION = README[README.index("## Use with deepinv"):README.index("## Errors")]
SNIPPETS = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)


def test_the_section_has_one_snippet_per_library():
    assert len(SNIPPETS) == 4
    for library in ("deepinv", "art", "WorstCase", "torchvision"):
        assert any(library in s for s in SNIPPETS), library


@pytest.mark.parametrize("index", range(4), ids=["deepinv", "art", "torchattacks", "torchvision"])
def test_snippet_runs(index):
    if index == 0:
        pytest.importorskip("deepinv")
    if index == 1:
        pytest.importorskip("art")
    namespace: dict = {}
    exec(compile(SNIPPETS[index], f"README snippet {index}", "exec"), namespace)
    import torch

    if index in (0, 2):  # the attacks moved the input, within the L-inf budget
        adv, noisy = namespace["adv"], namespace["y"] if index == 0 else namespace["noisy"]
        delta = (adv - noisy).abs().max().item()
        assert 0 < delta <= 2 / 255 + 1e-6
    if index == 1:
        delta = abs(namespace["adv"] - namespace["noisy"]).max()
        assert 0 < delta <= 2 / 255 + 1e-6
    if index == 3:
        out = namespace["out"]
        assert torch.equal(out["mask"], torch.zeros(40, 40, dtype=torch.uint8))
        assert out["image"].shape == (1, 40, 40) and (out["image"] < 0).any()


def test_the_opening_commands():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[:2]
    assert commands[0].strip().endswith("denoise-adv demo")
    assert "pip install -e \".[test]\"" in commands[1] and "python -m pytest -q" in commands[1]
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci  # CI runs the README's test command
