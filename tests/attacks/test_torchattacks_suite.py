"""torchattacks' own generic test, ``code_coverage/test_atks.py`` (Harry24k/
adversarial-attacks-pytorch, MIT licence), adapted to denoisers: each attack runs with its
default arguments in the default mode, then, because ``supported_mode`` lists ``"targeted"``,
in ``set_mode_targeted_random()``; any exception fails the test, and the adversarial result
must not be better than the clean one.

The adaptation, line for line: RobustBench's CIFAR-10 ``Standard`` classifier -> the
session's small trained DnCNN (``trained_dncnn``, tests/conftest.py: the zoo's DnCNN-17 takes
ten minutes on this CPU); 5 CIFAR-10 images and labels -> 5 centre crops (32x32) of
builtin:test, noisy at sigma 25 (inputs) and clean (labels); ``clean_accuracy`` -> the mean
PSNR of the denoised images (``clean_acc >= robust_acc`` becomes ``clean_psnr >= robust_psnr``);
``torchattacks.__all__`` minus its wrappers -> our 7 attacks, each with its default arguments
except that, as torchattacks' test gives SPSA a ``max_batch_size``, Square gets 100 queries (its
1000 take minutes on a shared CPU).
"""

import time

import pytest
import torch

import denoise_adv
from denoise_adv.analysis import noisy_image
from denoise_adv.data import center_crop, iter_images
from denoise_adv.metrics import psnr

CACHE = {}
ATTACKS = ["DenoisePGD", "DenoisePGDL2", "DenoiseFGSM", "DenoiseBIM", "ObsAtk", "DenoiseAPGD",
           "DenoiseSquare"]


def get_data(device="cpu", n_examples=5, size=32):
    names_images = list(iter_images("builtin:test"))[:n_examples]
    clean = torch.stack([center_crop(image, size) for _, image in names_images])
    noisy = torch.stack([noisy_image(c, 25 / 255, 0, name)
                         for c, (name, _) in zip(clean, names_images, strict=True)])
    return noisy.to(device), clean.to(device)


def clean_psnr(model, images, labels):
    """The denoisers' ``clean_accuracy``: mean PSNR of the denoised images, in dB."""
    with torch.no_grad():
        return psnr(model(images).clamp(0, 1), labels).mean().item()


@torch.no_grad()
@pytest.mark.parametrize("atk_class", ATTACKS)
def test_atks_on_builtin_test(atk_class, trained_dncnn, device="cpu", n_examples=5):
    model = trained_dncnn.to(device)
    if CACHE.get("images") is None:
        CACHE["images"], CACHE["labels"] = get_data(device=device, n_examples=n_examples)
    images, labels = CACHE["images"], CACHE["labels"]
    if CACHE.get("clean_acc") is None:
        CACHE["clean_acc"] = clean_psnr(model, images, labels)
    clean_acc = CACHE["clean_acc"]

    try:
        kargs = {}
        if atk_class in ["DenoiseSquare"]:
            kargs["n_queries"] = 100
        atk = getattr(denoise_adv, atk_class)(model, **kargs)
        start = time.time()
        with torch.enable_grad():
            adv_images = atk(images, labels)
        end = time.time()
        robust_acc = clean_psnr(model, adv_images, labels)
        sec = float(end - start)
        print(f"{atk_class:<12}: clean_psnr={clean_acc:2.2f} robust_psnr={robust_acc:2.2f} "
              f"sec={sec:2.2f}")

        if "targeted" in atk.supported_mode:
            atk.set_mode_targeted_random(quiet=True)
            with torch.enable_grad():
                adv_images = atk(images, labels)
            robust_acc = clean_psnr(model, adv_images, labels)
            print(f"{'- targeted':<12}: clean_psnr={clean_acc:2.2f} "
                  f"robust_psnr={robust_acc:2.2f} sec={sec:2.2f}")

    except Exception as e:
        robust_acc = clean_acc + 1  # It will cause an assertion error.
        print(f"{atk_class:<12} test psnr Error")
        print(e)

    assert clean_acc >= robust_acc
