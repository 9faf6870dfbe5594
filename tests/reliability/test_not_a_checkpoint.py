"""A file that is not a checkpoint says so (issue 31, item 11): a text file given as a model got
``cannot read pretrained weights FILE: 101`` (its bytes read as pickle opcodes)."""

from __future__ import annotations

import re

import pytest

from denoise_adv.attacks import load_adversarial_set
from denoise_adv.models import load_checkpoint, load_pretrained

EXPECTED = r"not a PyTorch checkpoint \(a zip archive written by torch.save\)$"

FILES = {
    "text": (b"hello world\nsecond line\n", r"it is a text file \(starting 'hello world'\)"),
    "json": (b'{"model": "dncnn"}\n', r"it is a text file \(starting '\{\"model\": \"dncnn\"\}'\)"),
    "empty": (b"", "the file is empty"),
    "binary": (b"\x00\x01\xfe\xff" * 8, "it is"),
}


@pytest.mark.parametrize("content, reason", FILES.values(), ids=FILES.keys())
@pytest.mark.parametrize("load, what", [(load_pretrained, "pretrained weights"),
                                        (load_checkpoint, "model checkpoint"),
                                        (load_adversarial_set, "adversarial set")],
                         ids=["pretrained", "checkpoint", "adversarial-set"])
def test_a_file_that_is_not_a_checkpoint_is_named_as_such(tmp_path, load, what, content, reason):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    message = rf"^cannot read {what} {re.escape(str(path))}: {reason},? {EXPECTED}"
    with pytest.raises(ValueError, match=message) as error:
        load(path)
    assert "\n" not in str(error.value)


def test_the_command_line_prints_one_line_and_exits_2(tmp_path, folder, cli):
    text = tmp_path / "textfile"
    text.write_text("hello world\n")
    code, out, err = cli("attack", "--model", text, "--input", folder, "--out", tmp_path / "out",
                         "--quiet")
    assert code == 2, err
    assert err == (f"denoise-adv attack: error: cannot read pretrained weights {text}: it is a "
                   f"text file (starting 'hello world'), not a PyTorch checkpoint (a zip "
                   f"archive written by torch.save)\n")
    assert not (tmp_path / "out").exists()
