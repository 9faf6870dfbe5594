"""A SwinIR-style Transformer denoiser (the paper's "Transformer" class, section 3.3.1)."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_real
from ._common import check_input, pad_to_multiple
from .registry import register_model

__all__ = ["SwinDenoiser"]


@lru_cache(maxsize=64)
def _relative_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@lru_cache(maxsize=64)
def _shift_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """(windows, N, N) additive mask keeping attention inside each region of a shifted grid."""
    region = torch.zeros(height, width)
    label = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[hs, ws] = label
            label += 1
    parts = _to_windows(region[None, :, :, None], window).squeeze(-1)
    diff = parts[:, None, :] - parts[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, float("-inf"))


def _to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def _from_windows(x: torch.Tensor, window: int, b: int, h: int, w: int) -> torch.Tensor:
    x = x.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("index", _relative_index(window).clone(), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.bias_table[self.index.view(-1)].view(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:  # (windows, N, N) -> per batch element and head
            windows = mask.shape[0]
            bias = (bias.view(1, 1, self.heads, n, n) + mask.to(x.dtype).view(1, windows, 1, n, n))
            bias = bias.expand(bw // windows, -1, -1, -1, -1).reshape(bw, self.heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        b, h, w, _ = x.shape
        y = self.norm1(x)
        mask = None
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
            mask = _shift_mask(h, w, self.window, self.shift).to(x.device)
        y = _from_windows(self.attn(_to_windows(y, self.window), mask), self.window, b, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


class _ResidualGroup(nn.Module):
    """SwinIR's RSTB: Swin blocks (alternately shifted), a 3x3 conv, and a skip."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        y = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            y = block(y)
        return x + self.conv(y.permute(0, 3, 1, 2))


@register_model("swinir")
class SwinDenoiser(nn.Module):
    r"""A SwinIR-style Transformer denoiser, after 'SwinIR: Image Restoration Using Swin
    Transformer' (Liang et al., ICCVW 2021) [https://arxiv.org/abs/2108.10257].

    Shallow 3x3 conv, residual groups of (shifted) window self-attention blocks with relative
    position bias, a conv, and a global residual: ``output = noisy + tail(features)``. Sizes
    that are not multiples of the window are replicate-padded and cropped back. The defaults
    follow SwinIR's classical denoising configuration (embedding 180, six groups of six blocks,
    six heads, window 8, MLP ratio 2); tests use tiny ones.

    Args:
        channels: image channels. (Default: 1)
        dim: embedding channels, divisible by ``heads``. (Default: 180)
        depths: Swin blocks per residual group. (Default: (6, 6, 6, 6, 6, 6))
        heads: attention heads. (Default: 6)
        window: attention window side, >= 2. (Default: 8)
        mlp_ratio: MLP hidden size over ``dim``. (Default: 2.0)

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
                 depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6), heads: int = 6, window: int = 8,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        dim = check_int(dim, "dim", minimum=1)
        heads = check_int(heads, "heads", minimum=1)
        window = check_int(window, "window", minimum=2)
        mlp_ratio = check_real(mlp_ratio, "mlp_ratio", minimum=0.0, strict=True)
        depths = tuple(check_int(d, "depths[i]", minimum=1) for d in depths)
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.window = window
        self.config = {"channels": channels, "dim": dim, "depths": list(depths), "heads": heads,
                       "window": window, "mlp_ratio": mlp_ratio}
        self.head = nn.Conv2d(channels, dim, 3, padding=1)
        self.groups = nn.ModuleList(_ResidualGroup(dim, d, heads, window, mlp_ratio)
                                    for d in depths)
        self.norm = nn.LayerNorm(dim)
        self.body_conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.tail = nn.Conv2d(dim, channels, 3, padding=1)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        check_input(noisy, self.channels)
        x, h, w = pad_to_multiple(noisy, self.window)
        shallow = self.head(x)
        y = shallow
        for group in self.groups:
            y = group(y)
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = self.body_conv(y) + shallow
        return (x + self.tail(y))[..., :h, :w]
