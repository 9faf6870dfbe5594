import torch

from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.models import DnCNN
from denoise_adv.train import random_patches, train_denoiser


def test_random_patches_cover_all_eight_orientations():
    img = torch.arange(4.0).view(1, 2, 2)
    g = torch.Generator().manual_seed(0)
    patches = random_patches([img], 400, 2, g)
    assert len({tuple(p.flatten().tolist()) for p in patches}) == 8


def test_trained_model_beats_noisy_input(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    with torch.no_grad():
        gain = psnr(trained_dncnn(noisy).clamp(0, 1), clean) - psnr(noisy.clamp(0, 1), clean)
    assert bool((gain > 3.0).all()), gain


def test_training_is_reproducible_and_loss_decreases():
    images = [builtin_image("coins")]
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = DnCNN(depth=3, features=4)
        losses = train_denoiser(model, images, steps=30, batch_size=8, seed=1, progress=False)
        runs.append((model, losses))
    assert runs[0][1] == runs[1][1]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0].state_dict().values(),
                                                 runs[1][0].state_dict().values()))
    losses = runs[0][1]
    assert sum(losses[-5:]) < sum(losses[:5])
