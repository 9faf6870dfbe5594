"""
Training strategies against Denoising-PGD (Tables 2-3)
======================================================

The zoo ships one DnCNN per training strategy, fine-tuned from the same base model for the same
1000 steps (see :doc:`/zoo`): ``normal`` (the control), ``ts-def`` and ``ts-pres`` (TS noise,
the paper's defence), ``mixed-26`` and ``adversarial`` (Madry-style PGD training). This example
scores each on Gaussian noise and under white-box L-inf and L2 Denoising-PGD (2/255 per pixel,
10 steps) on 64x64 centre crops of the six test images.

These crops are small and the models differ by tenths of a dB, so read the table as a
demonstration of the API; the shipped models' full scores are in :doc:`/zoo` and
:doc:`/benchmark`.
"""

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from torchvision.transforms.v2.functional import center_crop

from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.data import iter_images
from denoise_adv.models import pretrained
from denoise_adv.report import format_table

OUT = Path("examples_out") / "evaluate_strategies"
images = [(name, center_crop(image, 64)) for name, image in iter_images("builtin:test")]
table = []
for strategy in ("normal", "ts-def", "ts-pres", "mixed-26", "adversarial"):
    model = pretrained(f"dncnn-s25-{strategy}")
    rows = evaluate_robustness(model, images, attacks=("linf", "l2"), progress=False)
    table += [{"strategy": strategy, **row} for row in summarize(rows)]
print(format_table(table))

# %%
# PSNR on each input set
# ----------------------
strategies = list(dict.fromkeys(row["strategy"] for row in table))
sets = list(dict.fromkeys(row["set"] for row in table))
fig, ax = plt.subplots(figsize=(7, 3.2))
width = 0.8 / len(sets)
for k, name in enumerate(sets):
    values = [next(r["psnr"] for r in table if r["strategy"] == s and r["set"] == name)
              for s in strategies]
    offset = (k - (len(sets) - 1) / 2) * width
    ax.bar([i + offset for i in range(len(strategies))], values, width, label=name)
ax.set_xticks(range(len(strategies)), strategies)
ax.set_ylabel("mean PSNR (dB)")
ax.set_ylim(min(r["psnr"] for r in table) - 0.5, max(r["psnr"] for r in table) + 0.3)
ax.legend(fontsize=8, ncols=len(sets))
ax.set_title("zoo strategies, 64x64 crops of builtin:test, sigma 25", fontsize=10)
fig.tight_layout()
plt.show()
