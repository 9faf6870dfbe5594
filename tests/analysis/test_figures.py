"""What the analysis figures show (issue 24): the patch attack outlines its patch and has a
difference panel; the polar plot's radial scale has units and stands clear of the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle

from denoise_adv.analysis import figures


@pytest.fixture
def captured(monkeypatch):
    """The figures handed to ``save_figure`` (nothing is written)."""
    seen = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: seen.append(fig) or path)
    return seen


def _patch_inputs():
    g = torch.Generator().manual_seed(0)
    noisy = torch.rand(1, 1, 24, 32, generator=g)
    box = (4, 6, 8, 10)
    inputs = {m: noisy.clone() for m in ("method1", "method2")}
    for k, m in enumerate(inputs):
        inputs[m][..., 4:12, 6:16] += (k + 1) / 255
    denoised = {"gaussian": noisy * 0.9, "method1": noisy * 0.9 + 0.01,
                "method2": noisy * 0.9 - 0.02}
    result = {"box": list(box), **{f"{m}_input": x for m, x in inputs.items()},
              **{m: {"drop_inside": 1.5, "drop_outside": 0.01} for m in inputs}}
    return result, noisy, denoised, box


def test_patch_figure_outlines_the_patch_and_has_a_difference_panel(captured):
    result, noisy, denoised, (top, left, h, w) = _patch_inputs()
    figures.plot_patch_attack(result, noisy, denoised, "unused.png")
    (fig,) = captured
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 8  # 2 methods x (input, denoised, perturbation, output change)
    for ax in panels:
        boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(boxes) == 1
        assert boxes[0].get_xy() == (left - 0.5, top - 0.5)
        assert (boxes[0].get_width(), boxes[0].get_height()) == (w, h)
    titles = [ax.get_title() for ax in panels]
    assert titles.count("output change (8-bit levels)") == 2
    assert titles.count("perturbation (8-bit levels)") == 2
    change = panels[7].get_images()[0]  # method2's output change, in 8-bit levels
    np.testing.assert_allclose(change.get_array(), np.full((24, 32), -0.02 * 255), rtol=1e-5)
    low, high = change.get_clim()
    assert low == -high == pytest.approx(-0.02 * 255, rel=1e-5)  # one symmetric scale
    perturbation = np.asarray(panels[2].get_images()[0].get_array())
    assert perturbation[4:12, 6:16] == pytest.approx(255 / 255, rel=1e-4)  # inside: 1 level
    assert np.abs(perturbation[:4]).max() == 0  # outside the patch: nothing
    assert "drop inside 1.50 dB" in panels[0].get_ylabel()


def test_patch_figure_needs_every_output(captured):
    result, noisy, denoised, _ = _patch_inputs()
    del denoised["method2"]
    with pytest.raises(ValueError, match="denoised must hold"):
        figures.plot_patch_attack(result, noisy, denoised, "unused.png")


def _sweep(radii):
    angles = [i * 360 / 8 for i in range(8)]
    return {"angles_deg": angles, "radii": radii, "delta_angle_deg": 100.0,
            "psnr": [[30.0 - r - a / 360 for a in angles] for r in radii]}


@pytest.mark.parametrize("unit", [None, 0.5])
def test_polar_radius_scale_has_units_and_stays_off_the_data(captured, unit):
    radii = [0.25, 0.5, 0.75, 1.5]
    figures.plot_polar(_sweep(radii), "unused.png", radius_unit=unit)
    (fig,) = captured
    polar = next(ax for ax in fig.axes if ax.name == "polar")
    assert all(label.get_text() == "" for label in polar.get_yticklabels())  # none on the map
    (scale,) = polar.child_axes
    # left of the circle, from its centre to its top edge, on the same radial scale
    FigureCanvasAgg(fig).draw()
    box, circle = scale.get_position(), polar.get_position()
    assert box.x1 < circle.x0
    assert box.y0 == pytest.approx((circle.y0 + circle.y1) / 2, abs=1e-6)
    assert box.y1 == pytest.approx(circle.y1, abs=1e-6)
    assert scale.get_ylim() == polar.get_ylim()
    np.testing.assert_allclose(scale.get_yticks(), radii)
    shown = [float(t.get_text()) for t in scale.get_yticklabels()]
    np.testing.assert_allclose(shown, [r / (unit or 1.0) for r in radii], rtol=1e-3)
    label = scale.get_ylabel()
    assert ("x ||delta|| = 0.5" in label) if unit else ("[0, 1] units" in label)
    assert polar.get_ylim()[1] == pytest.approx(1.5 + 0.75 / 2)  # outer ring's edge


def test_polar_refuses_a_bad_unit(captured):
    with pytest.raises(ValueError, match="radius_unit"):
        figures.plot_polar(_sweep([1.0, 2.0]), "unused.png", radius_unit=0.0)


def test_transfer_heat_map_colour_scale_starts_at_zero(captured):
    """Issue 33: the scale starts at 0 dB, so NL-means' 0.73-0.76 dB drops are not as pale as a
    random perturbation's 0.02 dB; it ends at the largest drop."""
    names = ["dncnn", "ffdnet", "nlmeans"]
    drop = {"dncnn": {"dncnn": 1.22, "ffdnet": 1.09, "nlmeans": 0.73},
            "ffdnet": {"dncnn": 0.89, "ffdnet": 1.40, "nlmeans": 0.76}}
    result = {"names": names, "sources": ["dncnn", "ffdnet"], "drop": drop,
              "baseline": {"dncnn": 0.02, "ffdnet": 0.01, "nlmeans": -0.01}, "threshold": 0.3,
              "success": {s: {t: drop[s][t] > 0.3 for t in names} for s in drop}}
    figures.plot_transfer(result, "unused.png")
    (fig,) = captured
    (image,) = fig.axes[0].get_images()
    assert image.norm.vmin == 0
    assert image.norm.vmax == pytest.approx(1.40)
    # the colours follow the drops: NL-means' 0.73 dB is clearly darker than random's 0.02 dB
    cmap = image.get_cmap()
    nlmeans, random = (cmap(image.norm(v)) for v in (0.73, 0.02))
    assert sum(random[:3]) - sum(nlmeans[:3]) > 0.5
