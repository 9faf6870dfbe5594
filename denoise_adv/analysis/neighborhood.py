"""Neighbourhoods of a noisy sample: the 2-D (eq. 10) and 3-D (eq. 11) sweeps of section
3.1-3.2, as numbers and figures.

2-D: with the noisy image as the origin, ``e1 = n/||n||`` (the Gaussian noise direction, 0
degrees) and ``e2`` the part of the adversarial perturbation orthogonal to it (Gram-Schmidt),
samples ``y + r (cos(t) e1 + sin(t) e2)`` on circles of several radii; each is denoised and
scored. 3-D: two noises ``n1, n2`` of the same image and the adversarial perturbation of
``x + n1`` span a space; rotated noises ``cos(t) n1 + sin(t) n2`` should stay harmless and
combinations of the two adversarial perturbations should stay adversarial (Observation 1,
"connected set").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_real
from ..attacks import AttackSpec
from ..evaluation.inputs import score

__all__ = ["connected_set_check", "gram_schmidt", "neighborhood_2d", "sphere_sweep"]


def gram_schmidt(*vectors: torch.Tensor) -> list[torch.Tensor]:
    """Orthonormalise tensors of any shape (in float64), in order.

    Raises:
        ValueError: a vector is (numerically) in the span of the previous ones.

    Example:
        >>> e1, e2 = gram_schmidt(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]))
        >>> e1.tolist(), e2.tolist()
        ([1.0, 0.0], [0.0, 1.0])
    """
    basis: list[torch.Tensor] = []
    for i, v in enumerate(vectors):
        w = v.double().clone()
        for b in basis:
            w -= (w * b).sum() * b
        norm = w.norm()
        if norm <= 1e-12 * max(1.0, v.double().norm().item()):
            raise ValueError(f"vector {i} is linearly dependent on the previous ones")
        basis.append(w / norm)
    return basis


def neighborhood_2d(
    model: nn.Module,
    clean: torch.Tensor,
    noise: torch.Tensor,
    delta: torch.Tensor,
    radii: Sequence[float],
    angles: int = 72,
    threshold: float = 0.1,
) -> dict[str, Any]:
    """The 2-D neighbourhood sweep of eq. 10.

    Args:
        model: denoiser.
        clean: clean image (1, C, H, W).
        noise: its Gaussian noise ``n`` (the noisy image is ``clean + noise``).
        delta: an adversarial perturbation of ``clean + noise``.
        radii: circle radii (absolute L2 lengths).
        angles: samples per circle over [0, 360) degrees.
        threshold: a sample is adversarial when its PSNR is below the unperturbed one by more
            than this (dB).

    Returns:
        ``{"angles_deg", "radii", "psnr" (len(radii) x angles), "base_psnr", "delta_angle_deg"
        (where the attack lies), "worst_angle_deg" (per radius, relative to the noise
        direction), "adversarial_fraction" (per radius)}``.
    """
    threshold = check_real(threshold, "threshold")  # a NaN threshold would count nothing
    if any(not math.isfinite(r) or r < 0 for r in radii):
        raise ValueError(f"radii must be finite and >= 0, got {list(radii)}")
    e1, e2 = gram_schmidt(noise, delta)
    noisy = clean + noise
    base = score(model, noisy, clean)["psnr"]
    thetas = [2 * math.pi * k / angles for k in range(angles)]
    grid = []
    for r in radii:
        grid.append([score(model, (noisy + r * (math.cos(t) * e1 + math.sin(t) * e2)).to(
            noisy.dtype), clean)["psnr"] for t in thetas])
    psnrs = torch.tensor(grid, dtype=torch.float64)
    degrees = [math.degrees(t) for t in thetas]
    delta64 = delta.double()
    delta_angle = math.degrees(math.atan2((delta64 * e2).sum().item(),
                                          (delta64 * e1).sum().item())) % 360
    worst = [degrees[int(row.argmin())] for row in psnrs]
    fraction = [(row < base - threshold).double().mean().item() for row in psnrs]
    return {"angles_deg": degrees, "radii": list(radii), "psnr": psnrs.tolist(),
            "base_psnr": base, "delta_angle_deg": delta_angle, "worst_angle_deg": worst,
            "adversarial_fraction": fraction, "threshold": threshold}


def sphere_sweep(model: nn.Module, clean: torch.Tensor, n1: torch.Tensor, n2: torch.Tensor,
                 delta: torch.Tensor, radius: float, azimuths: int = 24, elevations: int = 11
                 ) -> dict[str, Any]:
    """PSNR on a sphere of ``radius`` around ``clean + n1`` in span(n1, n2, delta) (eq. 11).

    Returns ``{"azimuth_deg", "elevation_deg", "psnr" (elevations x azimuths)}``; azimuth 0 and
    elevation 0 is the ``n1`` direction, elevation 90 the part of ``delta`` orthogonal to both
    noises.
    """
    e1, e2, e3 = gram_schmidt(n1, n2, delta)
    noisy = clean + n1
    az = [2 * math.pi * k / azimuths for k in range(azimuths)]
    el = [math.pi * (k / (elevations - 1) - 0.5) for k in range(elevations)]
    grid = [[score(model, (noisy + radius * (math.cos(b) * (math.cos(a) * e1 + math.sin(a) * e2)
                                             + math.sin(b) * e3)).to(noisy.dtype), clean)["psnr"]
             for a in az] for b in el]
    return {"azimuth_deg": [math.degrees(a) for a in az],
            "elevation_deg": [math.degrees(b) for b in el], "psnr": grid}


def connected_set_check(model: nn.Module, clean: torch.Tensor, n1: torch.Tensor,
                        n2: torch.Tensor, attack: AttackSpec, steps: int = 9,
                        threshold: float | None = None,
                        generator: torch.Generator | None = None) -> dict[str, Any]:
    """Observation 1 (section 3.2) as numbers.

    - rotated noises ``cos(t) n1 + sin(t) n2`` (t in [0, 90] degrees, norm about ``||n1||``):
      PSNR drop against ``x + n1``; expected non-adversarial (drop <= ``threshold``). Another
      noise realisation alone moves the PSNR of a small image by a few tenths of a dB, so the
      default ``threshold`` is half the drop the attack ``d1`` causes;
    - combinations ``cos(t) d1 + sin(t) d2`` of the attacks ``d1`` on ``x + n1`` and ``d2`` on
      ``x + n2``, added to ``x + n1`` and rescaled into the attack's budget: expected
      adversarial (drop > ``threshold``).

    Returns the drops and the fraction of each family on its expected side.
    """
    noisy1, noisy2 = clean + n1, clean + n2
    atk = attack.build(model, generator)
    d1 = atk(noisy1, clean) - noisy1
    d2 = atk(noisy2, clean) - noisy2
    base = score(model, noisy1, clean)["psnr"]
    if threshold is None:
        threshold = 0.5 * (base - score(model, noisy1 + d1, clean)["psnr"])
    threshold = check_real(threshold, "threshold")
    ts = [0.5 * math.pi * k / (steps - 1) for k in range(steps)]
    rotated, combined = [], []
    for t in ts:
        rotated.append(base - score(model, clean + math.cos(t) * n1 + math.sin(t) * n2,
                                    clean)["psnr"])
        d = atk.project_ball(math.cos(t) * d1 + math.sin(t) * d2)
        combined.append(base - score(model, noisy1 + d, clean)["psnr"])
    return {"t_deg": [math.degrees(t) for t in ts], "rotated_noise_drop": rotated,
            "combined_attack_drop": combined, "threshold": threshold,
            "rotated_non_adversarial": sum(d <= threshold for d in rotated) / steps,
            "combined_adversarial": sum(d > threshold for d in combined) / steps}
