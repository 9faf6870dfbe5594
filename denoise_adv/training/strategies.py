"""The training strategies of the paper (sections 4.2-4.3) and the baselines: which noise each
one trains on."""

from __future__ import annotations

from ..noise import DEFAULT_TS_ITERATIONS, MIXED_PRESETS, mixed_sigmas

__all__ = ["STRATEGIES", "strategy_noise"]

#: Training strategies of the paper (sections 4.2-4.3) and the baselines.
STRATEGIES = ("normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26", "blind", "adversarial")


def strategy_noise(strategy: str, sigma: float | tuple[float, float],
                   ts_iterations: float = DEFAULT_TS_ITERATIONS, ts_method: str = "exact",
                   blind_range: tuple[float, float] = (0.0, 55 / 255)):
    """The noise transform of a training strategy.

    ``sigma`` may be a ``(low, high)`` range for blind training: ``normal``, ``ts-pres`` and
    ``ts-def`` then draw a level per sample from it (Table 3's DnCNN-B and its TS variants);
    ``blind`` is ``normal`` over ``blind_range``.

    - ``normal`` and ``adversarial``: Gaussian at ``sigma`` (the adversarial strategy attacks
      the noisy batch inside the loop);
    - ``ts-pres`` / ``ts-def``: :class:`~denoise_adv.transforms.TSNoise` with p = 1/3 / 1/2
      (the presets of :class:`~denoise_adv.noise.NoiseSpec`);
    - ``mixed-25.5`` / ``mixed-26``: ``sigma`` mixed 1:1 with ``sigma + 0.5/255`` /
      ``sigma + 1/255`` (25 with 25.5 or 26 at the paper's sigma; the ratio is our
      reconstruction): the presets :data:`~denoise_adv.noise.MIXED_PRESETS` of the noise owner;
    - ``blind``: a level per sample uniform in ``blind_range`` (DnCNN-B).

    Example:
        >>> strategy_noise("ts-def", 25 / 255).p
        0.5
    """
    from ..transforms import GaussianNoise, MixedNoise, TSNoise

    if isinstance(sigma, tuple) and strategy.startswith("mixed"):
        raise ValueError(f"strategy {strategy!r} mixes fixed levels; it has no blind form")

    if strategy in ("normal", "adversarial"):
        return GaussianNoise(sigma)
    if strategy == "ts-pres":
        return TSNoise.ts_pres(sigma, iterations=ts_iterations, method=ts_method)
    if strategy == "ts-def":
        return TSNoise.ts_def(sigma, iterations=ts_iterations, method=ts_method)
    if strategy in MIXED_PRESETS:
        return MixedNoise(mixed_sigmas(strategy, sigma))
    if strategy == "blind":
        return GaussianNoise(tuple(blind_range))
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
