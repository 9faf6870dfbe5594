"""Published weights (KAIR, SwinIR, deepinv) imported by load_pretrained and `denoise-adv convert`.

KAIR's and SwinIR's code is not installable: their state dicts are built here in the exact key
layout of their model definitions, and our outputs are compared with small re-implementations
of their forward passes written with plain torch.nn.functional calls. deepinv's models are
built with random weights and compared directly.
"""

import hashlib

import pytest
import torch
import torch.nn.functional as F

from denoise_adv.cli import main
from denoise_adv.models import (
    DnCNN,
    FFDNet,
    SwinDenoiser,
    UNetRes,
    as_denoiser,
    load_checkpoint,
    load_pretrained,
    read_pretrained,
    save_checkpoint,
)

ATOL = 1e-5


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _save(obj, tmp_path, name):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _conv(cout, cin, k, gen):
    return torch.randn(cout, cin, k, k, generator=gen) * (2.0 / (cin * k * k)) ** 0.5


def _vec(n, gen, scale=0.1):
    return torch.randn(n, generator=gen) * scale


# -- KAIR DnCNN / FFDNet: model.0, model.2, ... (Conv, ReLU, ..., Conv), biases everywhere ----

def kair_chain_state(cin, cout, depth, features, gen):
    state = {}
    for layer in range(depth):
        i = features if layer else cin
        o = cout if layer == depth - 1 else features
        state[f"model.{2 * layer}.weight"] = _conv(o, i, 3, gen)
        state[f"model.{2 * layer}.bias"] = _vec(o, gen)
    return state


def kair_chain(state, x):
    depth = len(state) // 2
    for layer in range(depth):
        x = F.conv2d(x, state[f"model.{2 * layer}.weight"], state[f"model.{2 * layer}.bias"],
                     padding=1)
        x = F.relu(x) if layer < depth - 1 else x
    return x


def kair_ffdnet(state, x, sigma):
    """KAIR's FFDNet.forward: pad to even, PixelUnShuffle, cat sigma map, chain, PixelShuffle."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    b, c, hh, ww = x.shape
    sub = x.reshape(b, c, hh // 2, 2, ww // 2, 2).permute(0, 1, 3, 5, 2, 4)
    sub = sub.reshape(b, 4 * c, hh // 2, ww // 2)
    out = kair_chain(state, torch.cat([sub, sigma.repeat(1, 1, hh // 2, ww // 2)], 1))
    out = out.reshape(b, c, 2, 2, hh // 2, ww // 2).permute(0, 1, 4, 2, 5, 3)
    return out.reshape(b, c, hh, ww)[..., :h, :w]


@pytest.mark.parametrize("channels, depth", [(1, 17), (3, 20)])  # dncnn_25, dncnn_color_blind
def test_kair_dncnn_matches_its_forward(tmp_path, channels, depth):
    state = kair_chain_state(channels, channels, depth, 8, _gen())
    model, info = read_pretrained(_save(state, tmp_path, "dncnn_25.pth"))
    assert info["arch"] == "kair-dncnn" and not model.training
    assert isinstance(model, DnCNN) and model.config == {
        "channels": channels, "depth": depth, "features": 8, "batchnorm": False}
    x = torch.rand(2, channels, 12, 9, generator=_gen(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), x - kair_chain(state, x), atol=ATOL, rtol=0)


@pytest.mark.parametrize("channels, depth, features", [(1, 5, 8), (3, 4, 12)])
def test_kair_ffdnet_matches_its_forward(tmp_path, channels, depth, features):
    state = kair_chain_state(4 * channels + 1, 4 * channels, depth, features, _gen())
    model, info = read_pretrained(_save(state, tmp_path, "ffdnet_gray.pth"))
    assert info["arch"] == "kair-ffdnet" and isinstance(model, FFDNet) and model.takes_sigma
    x = torch.rand(2, channels, 11, 8, generator=_gen(1))  # odd height: KAIR's padding
    sigma = torch.tensor([15.0, 50.0]).view(2, 1, 1, 1) / 255  # KAIR: noise_level / 255
    with torch.no_grad():
        torch.testing.assert_close(model(x, sigma), kair_ffdnet(state, x, sigma), atol=ATOL,
                                   rtol=0)
        torch.testing.assert_close(as_denoiser(model, 25 / 255)(x),
                                   kair_ffdnet(state, x, torch.full((2, 1, 1, 1), 25 / 255)),
                                   atol=ATOL, rtol=0)


# -- KAIR DRUNet: UNetRes(m_head, m_down1..3, m_body, m_up3..1, m_tail) -----------------------

def kair_drunet_state(channels, nc, nb, bias, gen):
    state = {}

    def conv(name, cout, cin, k, transposed=False):
        weight = _conv(cout, cin, k, gen)
        state[f"{name}.weight"] = weight.transpose(0, 1).contiguous() if transposed else weight
        if bias:
            state[f"{name}.bias"] = _vec(cout, gen)

    def res(name, c):
        conv(f"{name}.res.0", c, c, 3)
        conv(f"{name}.res.2", c, c, 3)

    conv("m_head", nc[0], channels + 1, 3)
    for i in (1, 2, 3):
        for k in range(nb):
            res(f"m_down{i}.{k}", nc[i - 1])
        conv(f"m_down{i}.{nb}", nc[i], nc[i - 1], 2)  # strideconv
    for name in [f"m_body.{k}" for k in range(nb)] if nb > 1 else ["m_body"]:  # B.sequential
        res(name, nc[3])
    for i in (3, 2, 1):
        conv(f"m_up{i}.0", nc[i - 1], nc[i], 2, transposed=True)  # convtranspose
        for k in range(nb):
            res(f"m_up{i}.{k + 1}", nc[i - 1])
    conv("m_tail", channels, nc[0], 3)
    return state


def kair_drunet(state, x, sigma, nb):
    def conv(name, h, **kw):
        return F.conv2d(h, state[f"{name}.weight"], state.get(f"{name}.bias"), **kw)

    def res(name, h):
        return h + conv(f"{name}.res.2", F.relu(conv(f"{name}.res.0", h, padding=1)), padding=1)

    sigma_map = torch.ones_like(x[:, :1]) * sigma
    skips = [conv("m_head", torch.cat([x, sigma_map], 1), padding=1)]
    for i in (1, 2, 3):
        h = skips[-1]
        for k in range(nb):
            h = res(f"m_down{i}.{k}", h)
        skips.append(conv(f"m_down{i}.{nb}", h, stride=2))
    h = skips[3]
    for name in [f"m_body.{k}" for k in range(nb)] if nb > 1 else ["m_body"]:
        h = res(name, h)
    for i in (3, 2, 1):
        h = F.conv_transpose2d(h + skips[i], state[f"m_up{i}.0.weight"],
                               state.get(f"m_up{i}.0.bias"), stride=2)
        for k in range(nb):
            h = res(f"m_up{i}.{k + 1}", h)
    return conv("m_tail", h + skips[0], padding=1)


@pytest.mark.parametrize("channels, nb, bias", [(1, 2, False), (3, 1, True)])
def test_kair_drunet_matches_its_forward(tmp_path, channels, nb, bias):
    state = kair_drunet_state(channels, (4, 6, 8, 8), nb, bias, _gen())
    model, info = read_pretrained(_save(state, tmp_path, "drunet_gray.pth"))
    assert info["arch"] == "kair-drunet" and isinstance(model, UNetRes) and model.takes_sigma
    assert model.config["blocks"] == nb and model.config.get("bias", False) == bias
    x = torch.rand(2, channels, 16, 24, generator=_gen(1))
    sigma = torch.tensor([10.0, 30.0]).view(2, 1, 1, 1) / 255
    with torch.no_grad():
        torch.testing.assert_close(model(x, sigma), kair_drunet(state, x, sigma, nb), atol=ATOL,
                                   rtol=0)


def test_published_drunet_layout_is_ours_one_for_one():
    # drunet_gray.pth: nc 64/128/256/512, nb 4, no biases; its keys map onto UNetRes() exactly.
    from denoise_adv.models.pretrained import _drunet_key

    shapes = {k: v.shape for k, v in kair_drunet_state(1, (2, 2, 2, 2), 4, False, _gen()).items()}
    ours = UNetRes(features=(2, 2, 2, 2)).state_dict()
    assert {_drunet_key(k) for k in shapes} == set(ours)
    assert all(ours[_drunet_key(k)].shape == s for k, s in shapes.items())


# -- deepinv DnCNN and DRUNet (installed): random weights, outputs compared directly ---------

@pytest.mark.parametrize("channels, bias", [(1, True), (3, False)])
def test_deepinv_dncnn(tmp_path, channels, bias):
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    theirs = dinv.models.DnCNN(in_channels=channels, out_channels=channels, depth=5, nf=8,
                               bias=bias, pretrained=None, device="cpu").eval()
    model, info = read_pretrained(_save(theirs.state_dict(), tmp_path, "dncnn.pth"))
    assert info["arch"] == "deepinv-dncnn" and isinstance(model, DnCNN)
    x = torch.rand(2, channels, 13, 10, generator=_gen(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), theirs(x, 0.1), atol=ATOL, rtol=0)
        assert (theirs(x) - x).abs().max() > 0.01  # a real residual, not the identity


@pytest.mark.parametrize("channels, nb", [(1, 2), (3, 1)])
@pytest.mark.slow
def test_deepinv_drunet(tmp_path, channels, nb):
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    theirs = dinv.models.DRUNet(in_channels=channels, out_channels=channels, nc=(4, 6, 8, 8),
                                nb=nb, pretrained=None, device="cpu").eval()
    path = _save(theirs.state_dict(), tmp_path, "drunet.pth")
    model, info = read_pretrained(path)
    assert info["arch"] == "kair-drunet"  # the same layout; forcing the deepinv name works too
    assert load_pretrained(path, arch="deepinv-drunet").config == model.config
    sigma = torch.tensor([0.05, 0.2])
    for size in [(32, 32), (32, 40)]:  # sizes deepinv runs unpadded (multiples of 8, >= 32)
        x = torch.rand(2, channels, *size, generator=_gen(1))
        with torch.no_grad():
            torch.testing.assert_close(model(x, sigma), theirs(x, sigma), atol=ATOL, rtol=0)
            torch.testing.assert_close(model(x, 0.1), theirs(x, 0.1), atol=ATOL, rtol=0)


# -- SwinIR ------------------------------------------------------------------------------------

def swinir_index(window):
    """SwinIR's WindowAttention.relative_position_index, as written there."""
    coords = torch.stack(torch.meshgrid([torch.arange(window), torch.arange(window)],
                                        indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def swinir_partition(x, window):
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window * window, c)


def swinir_reverse(windows, window, h, w):
    b = windows.shape[0] // (h * w // window // window)
    x = windows.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def swinir_mask(h, w, window, shift):
    """SwinTransformerBlock.calculate_mask (additive -100 between regions)."""
    img = torch.zeros(1, h, w, 1)
    cnt = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    m = swinir_partition(img, window).squeeze(-1)
    mask = m.unsqueeze(1) - m.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def swinir_state(channels, dim, depths, heads, window, img, hidden, gen, zero_qk=False):
    """A state dict with the keys, shapes and buffers of SwinIR(upscale=1, img_size=img, ...)."""
    lin = lambda o, i: torch.randn(o, i, generator=gen) * i ** -0.5  # noqa: E731
    norm = lambda p: {f"{p}.weight": 1 + _vec(dim, gen), f"{p}.bias": _vec(dim, gen)}  # noqa: E731
    s = {"conv_first.weight": _conv(dim, channels, 3, gen), "conv_first.bias": _vec(dim, gen),
         **norm("patch_embed.norm")}
    for g, (depth, nh) in enumerate(zip(depths, heads)):
        for j in range(depth):
            p = f"layers.{g}.residual_group.blocks.{j}"
            s.update(norm(f"{p}.norm1"), **norm(f"{p}.norm2"))
            s[f"{p}.attn.relative_position_bias_table"] = _vec((2 * window - 1) ** 2 * nh, gen,
                                                               1.0).view(-1, nh)
            s[f"{p}.attn.relative_position_index"] = swinir_index(window)
            s[f"{p}.attn.qkv.weight"] = lin(3 * dim, dim) * (0 if zero_qk else 1)
            s[f"{p}.attn.qkv.bias"] = _vec(3 * dim, gen)
            s[f"{p}.attn.proj.weight"], s[f"{p}.attn.proj.bias"] = lin(dim, dim), _vec(dim, gen)
            s[f"{p}.mlp.fc1.weight"], s[f"{p}.mlp.fc1.bias"] = lin(hidden, dim), _vec(hidden, gen)
            s[f"{p}.mlp.fc2.weight"], s[f"{p}.mlp.fc2.bias"] = lin(dim, hidden), _vec(dim, gen)
            if j % 2:  # shifted blocks carry the mask for the training size as a buffer
                s[f"{p}.attn_mask"] = swinir_mask(img, img, window, window // 2)
        s[f"layers.{g}.conv.weight"] = _conv(dim, dim, 3, gen) * 0.5
        s[f"layers.{g}.conv.bias"] = _vec(dim, gen)
    s.update(norm("norm"))
    s["conv_after_body.weight"], s["conv_after_body.bias"] = _conv(dim, dim, 3, gen), _vec(dim, gen)
    s["conv_last.weight"] = _conv(channels, dim, 3, gen)
    s["conv_last.bias"] = _vec(channels, gen)
    return s


TINY_SWINIR = dict(dim=12, depths=(2, 2), heads=(2, 3), window=4, img=16, hidden=24)


def _tiny_swinir_state(channels, gen, zero_qk=False):
    return swinir_state(channels, gen=gen, zero_qk=zero_qk, **TINY_SWINIR)


def _ln(x, s, p):
    return F.layer_norm(x, x.shape[-1:], s[f"{p}.weight"], s[f"{p}.bias"])


def _mlp(x, s, p):
    h = F.gelu(F.linear(x, s[f"{p}.fc1.weight"], s[f"{p}.fc1.bias"]))
    return F.linear(h, s[f"{p}.fc2.weight"], s[f"{p}.fc2.bias"])


def swinir_zero_qk(s, x, window):
    """SwinIR's forward when every qkv weight is zero: v is the constant qkv bias of v, the
    attention rows sum to one, so each attention output is proj(b_v), whatever the bias table,
    shift or mask; everything else (norms, MLPs, convs, mean, padding) is computed in full."""
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1) if x.shape[1] == 3 else 0.0
    h, w = x.shape[-2:]
    xp = F.pad(x, (0, (-w) % window, 0, (-h) % window), mode="reflect") - mean
    first = F.conv2d(xp, s["conv_first.weight"], s["conv_first.bias"], padding=1)
    t = _ln(first.permute(0, 2, 3, 1), s, "patch_embed.norm")
    for g in range(len(TINY_SWINIR["depths"])):
        y = t
        for j in range(TINY_SWINIR["depths"][g]):
            p = f"layers.{g}.residual_group.blocks.{j}"
            dim = y.shape[-1]
            y = y + F.linear(s[f"{p}.attn.qkv.bias"][2 * dim:], s[f"{p}.attn.proj.weight"],
                             s[f"{p}.attn.proj.bias"])
            y = y + _mlp(_ln(y, s, f"{p}.norm2"), s, f"{p}.mlp")
        conv = F.conv2d(y.permute(0, 3, 1, 2), s[f"layers.{g}.conv.weight"],
                        s[f"layers.{g}.conv.bias"], padding=1)
        t = t + conv.permute(0, 2, 3, 1)
    body = _ln(t, s, "norm").permute(0, 3, 1, 2)
    res = F.conv2d(body, s["conv_after_body.weight"], s["conv_after_body.bias"], padding=1) + first
    out = xp + F.conv2d(res, s["conv_last.weight"], s["conv_last.bias"], padding=1) + mean
    return out[..., :h, :w]


def swinir_block(s, p, x, heads, window, shift):
    """SwinTransformerBlock.forward on (B, H, W, C), from the state dict's tensors."""
    b, h, w, c = x.shape
    y = _ln(x, s, f"{p}.norm1")
    if shift:
        y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
    win = swinir_partition(y, window)
    bw, n, _ = win.shape
    qkv = F.linear(win, s[f"{p}.attn.qkv.weight"], s[f"{p}.attn.qkv.bias"])
    q, k, v = qkv.reshape(bw, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1)
    table = s[f"{p}.attn.relative_position_bias_table"]
    attn = attn + table[swinir_index(window).view(-1)].view(n, n, -1).permute(2, 0, 1)[None]
    if shift:
        mask = swinir_mask(h, w, window, shift)
        attn = attn.view(bw // mask.shape[0], mask.shape[0], heads, n, n) + mask[None, :, None]
        attn = attn.view(-1, heads, n, n)
    out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c)
    out = F.linear(out, s[f"{p}.attn.proj.weight"], s[f"{p}.attn.proj.bias"])
    y = swinir_reverse(out, window, h, w)
    if shift:
        y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
    x = x + y
    return x + _mlp(_ln(x, s, f"{p}.norm2"), s, f"{p}.mlp")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (13, 18)])  # the training size; reflect padding
def test_swinir_closed_form_with_zero_query_key(tmp_path, channels, size):
    state = _tiny_swinir_state(channels, _gen(), zero_qk=True)
    model, info = read_pretrained(_save({"params": state}, tmp_path, "005_colorDN.pth"))
    assert info["arch"] == "swinir" and info["entry"] == "params"
    assert isinstance(model, SwinDenoiser) and model.config["heads"] == [2, 3]
    x = torch.rand(2, channels, *size, generator=_gen(1))
    with torch.no_grad():
        expected = swinir_zero_qk(state, x, window=4)
        torch.testing.assert_close(model(x), expected, atol=ATOL, rtol=0)
        assert (expected - x).abs().max() > 0.05  # the network changes the image


@pytest.mark.parametrize("block, size", [(0, 8), (1, 8), (1, 12)])
def test_swinir_block_attention_matches_its_formula(tmp_path, block, size):
    state = _tiny_swinir_state(1, _gen())
    model = load_pretrained(_save({"params_ema": state}, tmp_path, "swinir.pth"))
    layer = 1  # three heads
    ours = model.layers[layer].residual_group.blocks[block]
    x = torch.randn(2, size, size, 12, generator=_gen(1))
    p = f"layers.{layer}.residual_group.blocks.{block}"
    with torch.no_grad():
        expected = swinir_block(state, p, x, heads=3, window=4, shift=2 * block)
        torch.testing.assert_close(ours(x), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_deepinv_swinir_port(tmp_path, channels):
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    theirs = dinv.models.SwinIR(img_size=16, in_chans=channels, embed_dim=12, depths=[2, 2],
                                num_heads=[2, 3], window_size=4, mlp_ratio=2, upscale=1,
                                img_range=1.0, upsampler="", resi_connection="1conv",
                                pretrained=None).eval()
    with torch.no_grad():
        for p in theirs.parameters():  # away from the zero/identity initialisation
            p.add_(torch.randn(p.shape, generator=_gen(2)) * 0.2)
    model, info = read_pretrained(_save(theirs.state_dict(), tmp_path, "swinir.pth"))
    assert info["arch"] == "swinir" and "entry" not in info
    for size in [(16, 16), (13, 18)]:
        x = torch.rand(1, channels, *size, generator=_gen(1))
        with torch.no_grad():
            torch.testing.assert_close(model(x), theirs(x), atol=ATOL, rtol=0)


def test_swinir_buffers_are_checked(tmp_path):
    state = _tiny_swinir_state(1, _gen())
    state["layers.0.residual_group.blocks.1.attn_mask"][0, 0, 1] = -5.0
    with pytest.raises(ValueError, match="blocks.1.attn_mask' is not SwinIR's attn_mask"):
        load_pretrained(_save({"params": state}, tmp_path, "bad.pth"), arch="swinir")
    state = _tiny_swinir_state(1, _gen())
    del state["layers.0.residual_group.blocks.1.attn_mask"]  # an unshifted odd block
    with pytest.raises(ValueError, match="without a shifted-window attn_mask"):
        load_pretrained(_save(state, tmp_path, "bad2.pth"))
    state = _tiny_swinir_state(1, _gen())
    state["upsample.0.weight"] = torch.zeros(4, 12, 3, 3)
    with pytest.raises(ValueError, match="super-resolution SwinIR"):
        load_pretrained(_save(state, tmp_path, "sr.pth"))


# -- detection, errors, weights_only, our own format -----------------------------------------

def test_own_checkpoint_returns_load_checkpoint_model(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(DnCNN(depth=3, features=4).eval(), tmp_path / "m.pt", {"sigma": 0.1})
    model, info = read_pretrained(tmp_path / "m.pt")
    reference, meta = load_checkpoint(tmp_path / "m.pt")
    assert info["arch"] == "denoise-adv" and info["source_meta"] == meta
    assert model.config == reference.config and not model.training
    x = torch.rand(1, 1, 8, 8)
    assert torch.equal(model(x), reference(x))
    with pytest.raises(ValueError, match="is not a denoise_adv checkpoint"):
        load_pretrained(_save(kair_chain_state(1, 1, 3, 4, _gen()), tmp_path, "k.pth"),
                        arch="denoise-adv")


def test_unknown_layout_lists_every_format_and_why(tmp_path):
    path = _save({"encoder.weight": torch.zeros(3, 3)}, tmp_path, "mystery.pth")
    with pytest.raises(ValueError, match="unrecognised weight layout") as err:
        load_pretrained(path)
    message = str(err.value)
    for arch, why in [("kair-dncnn", "not model.N.weight/bias"), ("kair-ffdnet", "not model.N"),
                      ("kair-drunet", "no 'm_head.weight'"), ("swinir", "no 'conv_first.weight'"),
                      ("deepinv-dncnn", "no 'in_conv.weight'"), ("deepinv-drunet", "same layout"),
                      ("denoise-adv", "no 'format'")]:
        assert f"{arch}: " in message and why in message


def test_shape_and_channel_mismatches_are_reported(tmp_path):
    state = kair_chain_state(1, 1, 3, 4, _gen())
    state["model.2.weight"] = torch.zeros(4, 5, 3, 3)  # a hidden layer of the wrong width
    with pytest.raises(ValueError, match="size mismatch for net.2.weight"):
        load_pretrained(_save(state, tmp_path, "a.pth"), arch="kair-dncnn")
    fdncnn = kair_chain_state(2, 1, 3, 4, _gen())  # KAIR's FDnCNN: not a supported layout
    with pytest.raises(ValueError, match=r"kair-dncnn: 2 input and 1 output channels"):
        load_pretrained(_save(fdncnn, tmp_path, "b.pth"))
    bn = {**kair_chain_state(1, 1, 3, 4, _gen()), "model.3.running_mean": torch.zeros(4)}
    with pytest.raises(ValueError, match="BatchNorm not merged"):
        load_pretrained(_save(bn, tmp_path, "c.pth"))
    with pytest.raises(ValueError, match="does not hold swinir weights: no 'conv_first.weight'"):
        load_pretrained(_save(kair_chain_state(1, 1, 3, 4, _gen()), tmp_path, "d.pth"),
                        arch="swinir")


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        load_pretrained(tmp_path / "missing.pth")
    good = _save(kair_chain_state(1, 1, 3, 4, _gen()), tmp_path, "k.pth")
    with pytest.raises(ValueError, match="arch must be one of"):
        load_pretrained(good, arch="kair-unet")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read pretrained weights"):
        load_pretrained(tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="not tensors"):
        load_pretrained(_save({"model.0.weight": [1.0]}, tmp_path, "list.pth"))
    with pytest.raises(ValueError, match="bias=False needs batchnorm=False"):
        DnCNN(bias=False)
    with pytest.raises(TypeError, match="batchnorm must be a bool"):
        FFDNet(batchnorm=1)


TRIGGERED = []


def _spring():
    TRIGGERED.append(True)
    return torch.zeros(1)


class _Trap:
    def __reduce__(self):
        return (_spring, ())


def test_weights_only_refuses_pickled_code(tmp_path):
    state = {**kair_chain_state(1, 1, 3, 4, _gen()), "model.4.bias": _Trap()}
    path = _save(state, tmp_path, "trap.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_pretrained(path)
    assert not TRIGGERED  # the pickled call never ran
    torch.save(DnCNN(depth=3, features=4), tmp_path / "module.pth")  # a whole pickled module
    with pytest.raises(ValueError, match="weights_only=True"):
        load_pretrained(tmp_path / "module.pth")


# -- denoise-adv convert -------------------------------------------------------------------------

@pytest.mark.parametrize("arch", [None, "kair-ffdnet"])
def test_convert_end_to_end(tmp_path, capsys, arch):
    state = kair_chain_state(5, 4, 4, 8, _gen())
    src = _save(state, tmp_path, "ffdnet_gray.pth")
    out = tmp_path / "zoo" / "ffdnet.pt"
    code = main(["convert", str(src), str(out), *(["--arch", arch] if arch else [])])
    assert code == 0
    assert "kair-ffdnet" in capsys.readouterr().out
    model, meta = load_checkpoint(out)
    assert meta == {"source": "ffdnet_gray.pth", "arch": "kair-ffdnet",
                    "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    x = torch.rand(2, 1, 10, 7, generator=_gen(1))
    with torch.no_grad():
        assert torch.equal(model(x, 0.1), load_pretrained(src)(x, 0.1))
        torch.testing.assert_close(model(x, torch.full((2, 1, 1, 1), 0.1)),
                                   kair_ffdnet(state, x, torch.full((2, 1, 1, 1), 0.1)),
                                   atol=ATOL, rtol=0)


def test_convert_swinir_and_errors(tmp_path, capsys):
    src = _save({"params": _tiny_swinir_state(3, _gen())}, tmp_path, "swinir.pth")
    assert main(["convert", str(src), str(tmp_path / "s.pt")]) == 0
    model, meta = load_checkpoint(tmp_path / "s.pt")
    assert meta["arch"] == "swinir" and meta["entry"] == "params"
    x = torch.rand(1, 3, 9, 10, generator=_gen(1))
    with torch.no_grad():
        assert torch.equal(model(x), load_pretrained(src)(x))
    bad = _save({"encoder.weight": torch.zeros(2)}, tmp_path, "bad.pth")
    capsys.readouterr()
    assert main(["convert", str(bad), str(tmp_path / "b.pt")]) == 2
    assert "unrecognised weight layout" in capsys.readouterr().err
    assert not (tmp_path / "b.pt").exists()
    with pytest.raises(SystemExit):
        main(["convert", str(src), str(tmp_path / "c.pt"), "--arch", "resnet"])
