"""SwinIR, the Transformer denoiser (the paper's "Transformer" class, section 3.3.1).

The module names follow the official implementation (``conv_first``, ``patch_embed.norm``,
``layers.N.residual_group.blocks.M.*``, ``layers.N.conv``, ``norm``, ``conv_after_body``,
``conv_last``), so SwinIR's released denoising weights load one for one (see
:func:`denoise_adv.models.load_pretrained`), and the forward pass is SwinIR's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_real
from ._common import check_input
from .registry import register_model

__all__ = ["SwinDenoiser", "relative_position_index", "shifted_window_mask"]

#: SwinIR's colour mean (DIV2K), subtracted from 3-channel inputs only.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
#: SwinIR's additive mask between tokens of different regions of a shifted window (not -inf).
MASK_VALUE = -100.0


@lru_cache(maxsize=64)
def relative_position_index(window: int) -> torch.Tensor:
    """SwinIR's ``relative_position_index``: (N, N) rows of the bias table, N = window**2
    (public: the SwinIR importer checks a file's buffer against it).

    Example:
        >>> relative_position_index(2).tolist()
        [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]]
    """
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@lru_cache(maxsize=64)
def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """SwinIR's ``attn_mask``: (windows, N, N), 0 inside a region of the shifted grid and
    ``MASK_VALUE`` between regions (public: the SwinIR importer checks a file's buffer
    against it).

    Example:
        >>> tuple(shifted_window_mask(8, 8, 4, 2).shape)
        (4, 16, 16)
    """
    region = torch.zeros(height, width)
    label = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[hs, ws] = label
            label += 1
    parts = _to_windows(region[None, :, :, None], window).squeeze(-1)
    diff = parts[:, None, :] - parts[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, MASK_VALUE)


def _to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def _from_windows(x: torch.Tensor, window: int, b: int, h: int, w: int) -> torch.Tensor:
    x = x.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def _pad_to_window(x: torch.Tensor, window: int) -> torch.Tensor:
    """SwinIR's ``check_image_size``: reflect-pad bottom/right to a multiple of the window
    (replicate where the image is too small to reflect, which SwinIR refuses)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % window, (-w) % window
    if not (ph or pw):
        return x
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2,
                                                                     heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # A function of the window only: not saved (load_pretrained checks SwinIR's copy).
        self.register_buffer("relative_position_index", relative_position_index(window).clone(),
                             persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        table = self.relative_position_bias_table
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:  # (windows, N, N) -> per batch element and head
            windows = mask.shape[0]
            bias = (bias.view(1, 1, self.heads, n, n) + mask.to(x.dtype).view(1, windows, 1, n, n))
            bias = bias.expand(bw // windows, -1, -1, -1, -1).reshape(bw, self.heads, n, n)
        # softmax(q k^T / sqrt(head_dim) + bias) v, SwinIR's attention (qk_scale=None).
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        b, h, w, _ = x.shape
        y = self.norm1(x)
        mask = None
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
            mask = shifted_window_mask(h, w, self.window, self.shift).to(x.device)
        y = _from_windows(self.attn(_to_windows(y, self.window), mask), self.window, b, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


class _BasicLayer(nn.Module):
    """Swin blocks, alternately unshifted and shifted by half a window."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class _ResidualGroup(nn.Module):
    """SwinIR's RSTB: a :class:`_BasicLayer`, a 3x3 conv (``resi_connection='1conv'``), a skip."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.residual_group = _BasicLayer(dim, depth, heads, window, mlp_ratio)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        y = self.residual_group(x).permute(0, 3, 1, 2)
        return x + self.conv(y).permute(0, 2, 3, 1)


class _PatchEmbed(nn.Module):
    """SwinIR's ``PatchEmbed`` with patch size 1: flatten to tokens, then a LayerNorm."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, H, W, C)
        return self.norm(x.permute(0, 2, 3, 1))


def _heads_per_group(heads: int | Sequence[int], groups: int, dim: int) -> list[int]:
    if isinstance(heads, Sequence) and not isinstance(heads, str):
        per = [check_int(h, "heads[i]", minimum=1) for h in heads]
        if len(per) != groups:
            raise ValueError(f"heads must be an int or have one entry per group ({groups}), "
                             f"got {len(per)}")
    else:
        per = [check_int(heads, "heads", minimum=1)] * groups
    for h in per:
        if dim % h:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({h})")
    return per


@register_model("swinir")
class SwinDenoiser(nn.Module):
    r"""SwinIR from 'SwinIR: Image Restoration Using Swin Transformer' (Liang et al., ICCVW
    2021) [https://arxiv.org/abs/2108.10257], its denoising configuration (``upscale=1``,
    ``upsampler=''``, ``resi_connection='1conv'``, patch size 1, ``patch_norm=True``, no absolute
    position embedding).

    Shallow 3x3 conv (``conv_first``), a LayerNorm on the tokens (``patch_embed``), residual
    groups (RSTB) of (shifted) window self-attention blocks with relative position bias, a
    LayerNorm, a conv, a skip from the shallow features, and the global residual
    ``output = noisy + conv_last(features) / img_range``. Colour inputs have SwinIR's RGB mean
    subtracted before ``conv_first`` (gray: zero). Sizes that are not multiples of the window
    are reflect-padded and cropped back, as SwinIR's ``check_image_size`` does (replicate for
    images smaller than the padding). Module and parameter names are SwinIR's, so its
    state dicts load (without the ``attn_mask``/``relative_position_index`` buffers, which are
    recomputed; :func:`~denoise_adv.models.load_pretrained` checks and drops them).
    The defaults are SwinIR-M's classical denoising configuration (embedding 180, six groups of
    six blocks, six heads, window 8, MLP ratio 2, 11.5M parameters); tests use tiny ones.

    Args:
        channels: image channels. (Default: 1)
        dim: embedding channels (``embed_dim``), divisible by every head count. (Default: 180)
        depths: Swin blocks per residual group. (Default: (6, 6, 6, 6, 6, 6))
        heads: attention heads, one number or one per group (``num_heads``). (Default: 6)
        window: attention window side (``window_size``), >= 2. (Default: 8)
        mlp_ratio: MLP hidden size over ``dim``. (Default: 2.0)
        img_range: SwinIR's ``img_range`` (1 for its denoisers). (Default: 1.0)

    Shape:
        - noisy: :math:`(B, C, H, W)`.
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> model = SwinDenoiser(dim=8, depths=(2,), heads=2, window=4)
        >>> model(torch.rand(1, 1, 10, 13)).shape
        torch.Size([1, 1, 10, 13])
    """

    takes_sigma = False  # a fixed-level denoiser (see denoise_adv.models.adapters)

    def __init__(self, channels: int = 1, dim: int = 180,
                 depths: Sequence[int] = (6, 6, 6, 6, 6, 6), heads: int | Sequence[int] = 6,
                 window: int = 8, mlp_ratio: float = 2.0, img_range: float = 1.0) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        dim = check_int(dim, "dim", minimum=1)
        window = check_int(window, "window", minimum=2)
        mlp_ratio = check_real(mlp_ratio, "mlp_ratio", minimum=0.0, strict=True)
        self.img_range = check_real(img_range, "img_range", minimum=0.0, strict=True)
        depths = tuple(check_int(d, "depths[i]", minimum=1) for d in depths)
        per_group = _heads_per_group(heads, len(depths), dim)
        self.window = window
        self.config = {"channels": channels, "dim": dim, "depths": list(depths),
                       "heads": per_group[0] if isinstance(heads, int) else per_group,
                       "window": window, "mlp_ratio": mlp_ratio, "img_range": self.img_range}
        mean = RGB_MEAN if channels == 3 else (0.0,) * channels
        self.register_buffer("mean", torch.tensor(mean).view(1, channels, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(channels, dim, 3, padding=1)
        self.patch_embed = _PatchEmbed(dim)
        self.layers = nn.ModuleList(_ResidualGroup(dim, d, h, window, mlp_ratio)
                                    for d, h in zip(depths, per_group))
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv_last = nn.Conv2d(dim, channels, 3, padding=1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # SwinIR's initialisation: truncated-normal linear weights, zero biases, unit LayerNorms.
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        check_input(noisy, self.channels)
        h, w = noisy.shape[-2:]
        x = (_pad_to_window(noisy, self.window) - self.mean.to(noisy.dtype)) * self.img_range
        shallow = self.conv_first(x)
        y = self.patch_embed(shallow)  # (B, H, W, C) tokens
        for layer in self.layers:
            y = layer(y)
        y = self.norm(y).permute(0, 3, 1, 2)
        y = self.conv_after_body(y) + shallow
        out = (x + self.conv_last(y)) / self.img_range + self.mean.to(noisy.dtype)
        return out[..., :h, :w]
