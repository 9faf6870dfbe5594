"""
Transferability between denoisers
=================================

Sections 2.7 and 3.3 of the paper: adversarial noise crafted on one denoiser also hurts others.
This example crafts L-inf Denoising-PGD (2/255, 10 steps) on three models of the shipped zoo
(the normal DnCNN, the TS-Def. one and the adversarially fine-tuned one) and scores every
input on each of them and on NL-means (a classical denoiser: a target only, it has no
gradient), next to random noise of the same size. 64x64 centre crops of three test images.

The zoo's models share their first 9000 training steps, so transfer between them is close to
white-box; NL-means is the independent target.
"""

# %%
from pathlib import Path

from torchvision.transforms.v2.functional import center_crop

from denoise_adv.analysis import plot_transfer, transfer_matrix
from denoise_adv.attacks import AttackSpec
from denoise_adv.data import builtin_image
from denoise_adv.models import NLMeans, pretrained

OUT = Path("examples_out") / "transferability"
sigma = 25 / 255
models = {name: pretrained(f"dncnn-s25-{name}")
          for name in ("normal", "ts-def", "adversarial")}
models["nlmeans"] = NLMeans(sigma)  # black-box: a column, not a row
images = [(name, center_crop(builtin_image(name), 64))
          for name in ("camera", "coins", "brick")]
result = transfer_matrix(models, images, AttackSpec("linf"), threshold=0.1, sigma=sigma,
                         progress=False)

# %%
# The matrix
# ----------
# Rows: the model the attack was crafted on; columns: the model scored. The diagonal is the
# white-box drop; the last row is random noise of the attacks' size.
names = result["names"]
print("PSNR drop (dB): rows = source of the attack, columns = target")
print(f"{'':>12}" + "".join(f"{n:>13}" for n in names))
for s in result["sources"]:
    print(f"{s:>12}" + "".join(f"{result['drop'][s][t]:>13.2f}" for t in names))
print(f"{'random':>12}" + "".join(f"{result['baseline'][t]:>13.2f}" for t in names))
plot_transfer(result, OUT / "transfer.png")
