"""
Train a small denoiser with TS noise
====================================

Training is this example's point, so it trains: a 5-layer, 16-feature DnCNN on 40x40 patches
of the built-in training images, for 150 steps with the ``ts-def`` strategy, in memory with
:class:`~denoise_adv.training.Trainer` (the loop behind ``denoise-adv train``). It plots the
training loss and scores the model on a crop of a test image. Such a model is far from the
zoo's (10000 steps): see :doc:`/zoo` for those.
"""

# %%
import matplotlib.pyplot as plt
import torch

from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.training import TrainConfig, Trainer

config = TrainConfig(strategy="ts-def", model_kwargs={"depth": 5, "features": 16},
                     max_steps=150, batch_size=32, lr=3e-3, seed=0, progress=False)
trainer = Trainer(config, train_images=[builtin_image(n) for n in
                                        ("coffee", "grass", "gravel", "rocket")],
                  val_images=[])
result = trainer.run()
model = trainer.model.eval()

# %%
# The loss
# --------
losses = [row["loss"] for row in trainer.state.steps_log]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, len(losses) + 1), losses)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("training MSE")
ax.set_title("DnCNN 5x16, ts-def, sigma 25", fontsize=10)
fig.tight_layout()
plt.show()

# %%
# A score
# -------
clean = builtin_image("camera")[None, :, 64:192, 192:320]
noise_rng = torch.Generator().manual_seed(1)
noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=noise_rng)
with torch.no_grad():
    before = psnr(noisy.clamp(0, 1), clean).item()
    after = psnr(model(noisy).clamp(0, 1), clean).item()
print(f"noisy {before:.2f} dB -> denoised {after:.2f} dB after {result['steps']} steps")
