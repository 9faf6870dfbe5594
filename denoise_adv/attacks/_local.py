"""Local re-evaluation for query attacks: a model that declares its receptive field
(:func:`~denoise_adv.models.contract.receptive_field`) is re-run on the crop around what a
proposal changes, and the crop's output is written into the current best's full output.

The geometry, for a change inside the box ``S`` of an image and a model of radius ``r``:

- the output can change only in ``S`` grown by ``r`` (the *region*, clipped to the image);
- a forward on ``S`` grown by ``2 r`` (the *crop*, clipped to the image, its edges moved out
  to multiples of the model's alignment unless at the image's end) reproduces the whole
  image's output on the region: a crop edge inside the image is more than ``r`` pixels from
  the region, and an edge at the image's border is the same border.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["Box", "Piece", "crop_area", "plan_crops", "run_crops", "splice"]

#: ``(top, bottom, left, right)``: rows ``top:bottom`` and columns ``left:right``.
Box = tuple[int, int, int, int]
#: ``(image index, region, output on the region)``.
Piece = tuple[int, Box, torch.Tensor]


def _span(start: int, stop: int, grow: int, length: int, alignment: int) -> tuple[int, int]:
    """``[start - grow, stop + grow)`` clipped to ``[0, length)``, its ends moved out to
    multiples of ``alignment`` (the end only when inside the image)."""
    low = max(start - grow, 0)
    low -= low % alignment
    high = min(stop + grow, length)
    if high < length:
        high = min(-(-high // alignment) * alignment, length)
    return low, high


def _area(box: Box) -> int:
    return (box[1] - box[0]) * (box[3] - box[2])


def _hull(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def plan_crops(corners: Sequence[tuple[int, int]], side: int, size: tuple[int, int],
               radius: int, alignment: int = 1) -> list[tuple[Box, Box]]:
    """``(crop, region)`` pairs covering the squares of side ``side`` at ``corners`` (top-left
    ``(row, column)``) of one image of ``size`` ``(H, W)``: the crop to run the model on and
    the region of its output to keep. Two squares whose crops overlap enough share one crop
    (their hull, when it is no larger than both apart).

    Example:
        >>> plan_crops([(10, 10)], 4, (64, 64), 3, alignment=2)
        [((4, 20, 4, 20), (7, 17, 7, 17))]
        >>> plan_crops([(0, 0), (2, 2)], 4, (64, 64), 3)  # at the border, sharing a crop
        [((0, 12, 0, 12), (0, 9, 0, 9))]
    """
    h, w = size
    pairs = []
    for row, col in corners:
        crop = (*_span(row, row + side, 2 * radius, h, alignment),
                *_span(col, col + side, 2 * radius, w, alignment))
        region = (*_span(row, row + side, radius, h, 1), *_span(col, col + side, radius, w, 1))
        pairs.append((crop, region))
    merged = [pairs[0]]
    for crop, region in pairs[1:]:
        last_crop, last_region = merged[-1]
        hull = _hull(last_crop, crop)
        if _area(hull) <= _area(last_crop) + _area(crop):
            merged[-1] = (hull, _hull(last_region, region))
        else:
            merged.append((crop, region))
    return merged


def crop_area(plan: Sequence[Sequence[tuple[Box, Box]]]) -> int:
    """Pixels the crops of a plan (one list of pairs per image) cover, counted per crop."""
    return sum(_area(crop) for pairs in plan for crop, _ in pairs)


def run_crops(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
              plan: Sequence[Sequence[tuple[Box, Box]]]) -> list[Piece]:
    """Run ``forward`` on the crops of ``x`` (B, C, H, W) that ``plan`` lists per image (crops
    of one shape in one batch) and return each region's output.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> [(b, box, out.tolist()) for b, box, out in run_crops(
        ...     lambda t: 2 * t, x, [[((0, 2, 0, 3), (0, 1, 1, 2))]])]
        [(0, (0, 1, 1, 2), [[[2.0]]])]
    """
    groups: dict[tuple[int, int], list[tuple[int, Box, Box]]] = {}
    for index, pairs in enumerate(plan):
        for crop, region in pairs:
            groups.setdefault((crop[1] - crop[0], crop[3] - crop[2]), []).append(
                (index, crop, region))
    pieces = []
    for members in groups.values():
        batch = torch.stack([x[i, :, c[0]:c[1], c[2]:c[3]] for i, c, _ in members])
        outputs = forward(batch)
        for (i, c, r), out in zip(members, outputs):
            pieces.append((i, r, out[:, r[0] - c[0]:r[1] - c[0], r[2] - c[2]:r[3] - c[2]]))
    return pieces


def splice(kept: torch.Tensor, pieces: Sequence[Piece]) -> torch.Tensor:
    """A copy of ``kept`` (B, C, H, W) with each piece written over its region.

    Example:
        >>> splice(torch.zeros(1, 1, 2, 3), [(0, (1, 2, 0, 2), torch.ones(1, 1, 2))])
        tensor([[[[0., 0., 0.],
                  [1., 1., 0.]]]])
    """
    out = kept.clone()
    for index, (top, bottom, left, right), piece in pieces:
        out[index, :, top:bottom, left:right] = piece
    return out
