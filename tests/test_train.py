"""The in-memory path of the one training loop (the path the test fixtures and examples use)."""

import pytest
import torch

from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.training import TrainConfig, Trainer


def test_trained_model_beats_noisy_input(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    with torch.no_grad():
        gain = psnr(trained_dncnn(noisy).clamp(0, 1), clean) - psnr(noisy.clamp(0, 1), clean)
    assert bool((gain > 3.0).all()), gain


def _run(seed: int):
    config = TrainConfig(model_kwargs={"depth": 3, "features": 4}, max_steps=30, batch_size=8,
                         seed=seed, progress=False)
    trainer = Trainer(config, train_images=[builtin_image("coins")], val_images=[])
    result = trainer.run()
    return trainer.model, [row["loss"] for row in trainer.state.steps_log], result


@pytest.mark.slow
def test_in_memory_training_is_reproducible_and_loss_decreases(tmp_path):
    (a, losses_a, result), (b, losses_b, _) = _run(1), _run(1)
    assert result["steps"] == 30 and losses_a == losses_b
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))
    assert sum(losses_a[-5:]) < sum(losses_a[:5])
    assert not any(tmp_path.iterdir())  # out=None keeps nothing on disk
    _, losses_c, _ = _run(2)
    assert losses_c != losses_a  # the seed steers patches, noise and initialisation


def test_validation_noise_is_the_seeds_validation_stream():
    from denoise_adv import seeding

    images = [torch.rand(1, 16, 16), torch.rand(1, 16, 16)]
    config = TrainConfig(model_kwargs={"depth": 3, "features": 4}, max_steps=1, seed=3,
                         progress=False)
    noisy, clean = Trainer(config, train_images=images[:1], val_images=images).build_validation()
    draw = torch.randn(clean.shape, generator=seeding.generator(3, "validation"))
    assert torch.equal(noisy, clean + config.sigma * draw)  # the numbers of earlier runs
