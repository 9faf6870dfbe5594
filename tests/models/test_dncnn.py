import pytest
import torch

from denoise_adv.models import DnCNN, build


@pytest.mark.slow
def test_published_parameter_count():
    # DnCNN-S: 640 (first conv) + 15 * (36864 + 128) (conv + BN) + 576 (last conv)
    assert sum(p.numel() for p in DnCNN().parameters()) == 556_096
    assert sum(p.numel() for p in DnCNN(depth=20).parameters()) == 556_096 + 3 * 36_992


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (17, 9), (1, 1)])
def test_shapes_gray_colour_and_odd_sizes(channels, size):
    model = DnCNN(channels=channels, depth=4, features=8).eval()
    x = torch.rand(2, channels, *size)
    assert model(x).shape == x.shape


def test_forward_is_clean_estimate_of_residual_network():
    model = DnCNN(depth=3, features=4).eval()
    x = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(model(x), x - model.noise(x))


def test_gradients_flow_to_every_parameter_and_input():
    model = DnCNN(depth=4, features=8)
    x = torch.rand(2, 1, 10, 10, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_gradcheck_float64():
    model = DnCNN(depth=3, features=3).double().eval()
    x = torch.rand(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,))


def test_runs_on_device_and_dtype(device, dtype):
    model = DnCNN(channels=3, depth=3, features=4).to(device=device, dtype=dtype).eval()
    x = torch.rand(1, 3, 7, 7, device=device, dtype=dtype)
    assert model(x).dtype == dtype and model(x).device.type == device.type


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth must be >= 2"):
        DnCNN(depth=1)
    with pytest.raises(TypeError, match="features must be an integer"):
        DnCNN(features=8.0)
    with pytest.raises(ValueError, match="noisy must have 1 channel"):
        DnCNN(depth=3, features=4)(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"noisy must be a tensor of shape \(B, C, H, W\)"):
        DnCNN(depth=3, features=4)(torch.rand(3, 4, 4))


def test_registry_builds_by_name():
    model = build("dncnn", channels=3, depth=3, features=8)
    assert isinstance(model, DnCNN) and model.config == {"channels": 3, "depth": 3, "features": 8}
    with pytest.raises(ValueError, match="unknown model name 'nope'"):
        build("nope")
