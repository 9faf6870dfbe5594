"""Protocols and models that lie (issue 25): a reserved protocol version must be its frozen
definition; a checkpoint's weights must match the sha256 saved with them; a model carries a
zoo name only if it is the manifest's file."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from reliability_helpers import tiny_model

from denoise_adv.benchmark import PROTOCOL_V1, PROTOCOL_V1_QUICK, PROTOCOLS, get_protocol
from denoise_adv.evaluation.protocol import Protocol
from denoise_adv.models import (
    load_checkpoint,
    model_label,
    pretrained,
    save_checkpoint,
    zoo_manifest,
)
from denoise_adv.models.registry import weights_sha256
from denoise_adv.models.zoo import ZOO_DIR


# ------------------------------------------------------------------ reserved protocol names
def test_a_protocol_file_claiming_v1_with_other_numbers_is_refused(tmp_path, cli):
    lying = {**PROTOCOL_V1.as_dict(), "sigma": 15 / 255, "bootstrap": 10}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(lying))
    with pytest.raises(ValueError, match=r"'v1' is reserved .* differs in sigma, bootstrap"):
        get_protocol(path)
    code, _, err = cli("benchmark", "--model", "nlmeans", "--protocol", path, "--out",
                       tmp_path / "out", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "is reserved" in err
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("version", sorted(PROTOCOLS))
def test_a_faithful_copy_of_a_reserved_protocol_loads(tmp_path, version):
    path = tmp_path / f"{version}.json"
    path.write_text(json.dumps(PROTOCOLS[version].as_dict()))
    assert get_protocol(path) == PROTOCOLS[version]


def test_reserved_names_are_checked_for_values_and_objects_too():
    changed = {**PROTOCOL_V1_QUICK.as_dict(), "images": ["camera"]}
    with pytest.raises(ValueError, match="'v1-quick' is reserved .* differs in images"):
        Protocol.from_dict(changed)
    with pytest.raises(ValueError, match="'v1' is reserved .* differs in noise_seeds"):
        get_protocol(PROTOCOL_V1.derive("v1", noise_seeds=(0, 1)))
    custom = PROTOCOL_V1.derive("my-v1", noise_seeds=(0, 1))  # its own name: fine
    assert get_protocol(custom) is custom


# -------------------------------------------------------------------- checkpoint integrity
def _flip_a_weight_byte(path) -> None:
    """Change the lowest byte of one float of the first conv's weight, in the file's bytes
    (the change of about 1e-7 relative that the probe made: a silent wrong model before)."""
    raw = bytearray(path.read_bytes())
    weight = tiny_model().state_dict()["net.0.weight"].reshape(-1)
    needle = weight[:8].numpy().tobytes()
    at = raw.find(needle)
    assert at > 0 and raw.find(needle, at + 1) == -1
    raw[at + 4] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_flipped_weight_byte_is_refused_naming_the_file(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "m.pt", {"strategy": "normal"})
    payload = torch.load(path, weights_only=True)
    assert payload["weights_sha256"] == weights_sha256(tiny_model().state_dict())
    load_checkpoint(path)  # intact: loads
    _flip_a_weight_byte(path)
    flipped = torch.load(path, weights_only=True)["state_dict"]["net.0.weight"]
    assert 0 < (flipped - payload["state_dict"]["net.0.weight"]).abs().max() < 1e-5
    with pytest.raises(ValueError, match=rf"{path}: its weights do not match the sha256"):
        load_checkpoint(path)


def test_the_cli_refuses_a_damaged_checkpoint_in_one_line(tmp_path, folder, cli):
    path = save_checkpoint(tiny_model(), tmp_path / "m.pt")
    _flip_a_weight_byte(path)
    code, _, err = cli("attack", "--model", path, "--input", folder, "--steps", 1, "--out",
                       tmp_path / "out", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "do not match the sha256" in err


def test_older_checkpoints_without_the_hash_still_load(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    del payload["weights_sha256"]
    torch.save(payload, path)
    model, _ = load_checkpoint(path)
    for key, value in tiny_model().state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    payload["weights_sha256"] = 12
    torch.save(payload, path)
    with pytest.raises(ValueError, match="weights_sha256 must be a hex string"):
        load_checkpoint(path)


def test_the_shipped_zoo_files_are_untouched_and_load():
    for name, entry in zoo_manifest()["models"].items():
        payload = torch.load(ZOO_DIR / entry["file"], weights_only=True)
        assert "weights_sha256" not in payload  # not rewritten: the manifest's sha256 holds
        assert pretrained(name).training is False


def test_weights_sha256_ignores_order_and_device_but_not_values():
    state = tiny_model().state_dict()
    reordered = dict(reversed(list(state.items())))
    assert weights_sha256(state) == weights_sha256(reordered)
    nudged = dict(state)
    nudged["net.0.bias"] = torch.nextafter(state["net.0.bias"],
                                              torch.tensor(float("inf")))
    assert weights_sha256(nudged) != weights_sha256(state)
    renamed = {("x" + k if i == 0 else k): v for i, (k, v) in enumerate(state.items())}
    assert weights_sha256(renamed) != weights_sha256(state)


# ---------------------------------------------------------------------------- zoo names
ZOO_NAME = "dncnn-s25-normal"


def test_a_zoo_name_is_earned_by_content(tmp_path):
    copy = tmp_path / f"{ZOO_NAME}.pt"
    shutil.copyfile(ZOO_DIR / zoo_manifest()["models"][ZOO_NAME]["file"], copy)
    assert model_label(copy) == ZOO_NAME  # the manifest's very file, copied
    assert model_label(f"zoo:{ZOO_NAME}") == ZOO_NAME
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # a tampered copy under the zoo's file name
    copy.write_bytes(bytes(raw))
    label = model_label(copy)
    assert label != ZOO_NAME and label.startswith(f"{ZOO_NAME}-file-") and len(label) == len(
        ZOO_NAME) + 14
    run = tmp_path / ZOO_NAME / "model.pt"  # a retrained run in a folder of that name
    save_checkpoint(tiny_model(), run)
    assert model_label(run).startswith(f"{ZOO_NAME}-file-")
    assert model_label(tmp_path / "mine.pt") == "mine"  # other names: as before


def test_a_tampered_zoo_copy_does_not_benchmark_under_the_zoo_name(tmp_path, cli, one_thread):
    entry = zoo_manifest()["models"][ZOO_NAME]
    copy = tmp_path / f"{ZOO_NAME}.pt"
    payload = torch.load(ZOO_DIR / entry["file"], weights_only=True)
    payload["state_dict"]["net.0.weight"][0, 0, 0, 0] += 1e-3  # no weights_sha256: loads
    torch.save(payload, copy)
    protocol = PROTOCOL_V1_QUICK.derive("zoo-names", images=("camera",), crop=16,
                                        reference="nlmeans", bootstrap=20,
                                        attacks=PROTOCOL_V1_QUICK.attacks_of("random"))
    (tmp_path / "p.json").write_text(json.dumps(protocol.as_dict()))
    code, out, err = cli("benchmark", "--model", copy, f"zoo:{ZOO_NAME}", "--protocol",
                         tmp_path / "p.json", "--out", tmp_path / "bench", "--quiet",
                         "--no-figures")
    assert code == 0, err
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    labels = list(results["models"])
    assert ZOO_NAME in labels and len(labels) == 2
    impostor = next(label for label in labels if label != ZOO_NAME)
    assert impostor.startswith(f"{ZOO_NAME}-file-")
    assert results["models"][impostor]["spec"] == str(copy)
    assert results["models"][ZOO_NAME]["spec"] == f"zoo:{ZOO_NAME}"
