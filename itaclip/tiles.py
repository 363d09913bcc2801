"""The stages after the sliding window, at the image's full size, in tiles (paper section 5).

Masks are returned at the original image size, and upsampling, PAMR and the
class probabilities happen there: for a 48-megapixel photo and 171 classes,
the query logits alone would take 33 GB. So the output is cut into tiles and
each tile is computed on its own, exactly:

- bilinear upsampling of the logits is computed for any range of output
  pixels directly from the small source (:func:`upsample`), so a tile needs
  no margin for it (the image that guides PAMR is resized whole, 12 bytes a
  pixel, see :func:`pamr_guide`);
- PAMR moves information ``max(dilations)`` pixels per step, so a tile is
  refined on a region grown by ``steps * max(dilations)`` pixels (the halo)
  and cropped: the halo's own pixels, whose neighbours were clipped, are the
  only ones that differ from the whole image's, and they are thrown away;
- probabilities, their argmax and ``prob_thd`` are per pixel;
- ``area_thd`` needs the whole image's class areas: they are counted in the
  first pass, and only tiles showing a dropped class are labelled again;
- the 3x3 closing runs once on the assembled label map (one byte a pixel).

Tile size comes from a memory budget; an image that fits it is one tile,
and the result equals the untiled computation (``tests/test_tiles.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import pamr
from .postprocess import class_probabilities, close, kept_classes, label_map
from .slide import Window, bilinear_taps

# Bytes a tile needs per pixel in fp32, beyond its logits and probabilities (measured on CPU, rounded up):
AFFINITY_BYTES = 192  # PAMR's neighbour weights and their temporaries, per pixel of the grown region
PIXEL_BYTES = 96  # argmax, top probability, labels and their temporaries, per output pixel
SOFTMAX_BYTES = 16 * 2**20  # the softmax over queries runs on row bands of a tile of about this size
MIN_TILE = 32  # the smallest tile side tried; below it the halo costs more than the tile


@dataclass(frozen=True)
class FullSize:
    """What happens at full size, and how much memory a tile may take.

    ``query_idx`` maps queries to classes; the other fields are the
    segmentor's keys of the same names (``pamr_stride`` are the dilations);
    ``pamr_chunk_bytes`` bounds the mask channels PAMR refines together
    (cache-sized chunks run faster on a CPU; None: all channels at once);
    ``budget`` is the bytes one tile may use.
    """

    query_idx: Tensor
    num_classes: int
    logit_scale: float
    pamr_steps: int = 0
    pamr_stride: tuple[int, ...] = (8, 16)
    prob_thd: float = 0.0
    area_thd: float | None = None
    closing: bool = True
    renormalise: bool = False
    pamr_chunk_bytes: int | None = None
    budget: int = 2**30

    @property
    def queries(self) -> int:
        return int(self.query_idx.numel())

    @property
    def halo(self) -> int:
        """How far PAMR carries information: the margin that makes a tile exact."""
        return self.pamr_steps * max(self.pamr_stride) if self.pamr_steps > 0 else 0

    def tile_bytes(self, inner: tuple[int, int], grown: tuple[int, int]) -> int:
        """A rough upper bound of the memory a tile of ``inner`` pixels (h, w) takes, refined on a
        region of ``grown`` pixels (its outputs excluded): the larger of PAMR's phase and the
        probabilities' phase, with the tile's refined logits alive in both."""
        queries, classes = self.queries, self.num_classes
        logits = 4 * queries * inner[0] * inner[1]
        probabilities = logits + inner[0] * inner[1] * (4 * classes + PIXEL_BYTES) + 3 * min(SOFTMAX_BYTES, logits)
        if self.pamr_steps <= 0:
            return probabilities + logits  # upsampling: a gather beside its result
        pixels = grown[0] * grown[1]
        return max(probabilities, logits + pixels * (AFFINITY_BYTES + 3 * 4 * self.chunk_channels(pixels)))

    def tile_cost(self, tile: Window, size: tuple[int, int]) -> int:
        """:meth:`tile_bytes` of one tile of an image of ``size``."""
        grown = grow(tile, self.halo, size)
        return self.tile_bytes((tile.y2 - tile.y1, tile.x2 - tile.x1), (grown.y2 - grown.y1, grown.x2 - grown.x1))

    def chunk_channels(self, pixels: int) -> int:
        """Mask channels PAMR refines together on ``pixels`` pixels."""
        if self.pamr_chunk_bytes is None:
            return self.queries
        return max(1, min(self.queries, self.pamr_chunk_bytes // (4 * max(1, pixels))))


def grow(region: Window, margin: int, size: tuple[int, int]) -> Window:
    """``region`` grown by ``margin`` pixels on every side, clipped to the image."""
    height, width = size
    return Window(max(region.y1 - margin, 0), min(region.y2 + margin, height),
                  max(region.x1 - margin, 0), min(region.x2 + margin, width))


def upsample(source: Tensor, size: tuple[int, int], region: Window) -> Tensor:
    """``region`` of ``source`` (C, h, w) bilinearly resized to ``size``, (C, region height, region width).

    Equal to cropping ``F.interpolate(source[None], size, mode="bilinear",
    align_corners=False)`` for every region, without making the full size:
    rows first, from the few source rows and columns the region reads.
    """
    (height, width), device = source.shape[-2:], source.device
    rows = bilinear_taps(size[0], height, region.y1, region.y2, device)
    cols = bilinear_taps(size[1], width, region.x1, region.x2, device)
    top, left = int(rows[0][0]), int(cols[0][0])
    part = source[:, top:int(rows[1][-1]) + 1, left:int(cols[1][-1]) + 1]
    low, high, frac = rows
    part = part.index_select(1, low - top).lerp_(part.index_select(1, high - top), frac[:, None])
    low, high, frac = cols  # columns picked as rows of the transpose: whole rows copied, 3x faster on a CPU
    part = part.transpose(1, 2).contiguous()
    part = part.index_select(1, low - left).lerp_(part.index_select(1, high - left), frac[:, None])
    return part.transpose(1, 2).contiguous()


def refined_logits(source: Tensor, guide: Tensor | None, size: tuple[int, int], region: Window,
                   settings: FullSize, halo: int | None = None) -> Tensor:
    """Full-size query logits of ``region``, PAMR-refined when ``settings.pamr_steps`` > 0, (Q, h, w).

    ``source`` (Q, h', w') are the logits before upsampling, resized to
    ``size``; ``guide`` (3, H, W) is the image PAMR follows, at ``size`` (see
    :func:`pamr_guide`). ``halo`` overrides the margin PAMR is run with (tests show a smaller one fails).
    """
    if settings.pamr_steps <= 0:
        return upsample(source, size, region)
    big = grow(region, settings.halo if halo is None else halo, size)
    weights = pamr.affinity(guide[None, :, big.y1:big.y2, big.x1:big.x2], settings.pamr_stride)
    inner = (slice(region.y1 - big.y1, region.y2 - big.y1), slice(region.x1 - big.x1, region.x2 - big.x1))
    out = source.new_empty(source.shape[0], region.y2 - region.y1, region.x2 - region.x1, dtype=torch.float32)
    chunk = settings.chunk_channels((big.y2 - big.y1) * (big.x2 - big.x1))
    for i in range(0, source.shape[0], chunk):  # channels are independent given the affinities
        mask = upsample(source[i:i + chunk].float(), size, big)[None]
        refined = pamr.propagate(weights, mask, settings.pamr_steps, settings.pamr_stride)[0]
        out[i:i + chunk] = refined[(slice(None),) + inner]
    return out


def pamr_guide(image: Tensor, size: tuple[int, int]) -> Tensor:
    """The image PAMR follows: the input (3, h, w) resized to ``size`` in fp32, (3, H, W), 12 bytes a pixel.

    PAMR divides image differences by their local spread, so in flat areas
    it follows the last bit of the resized image; this is made whole, by
    ``F.interpolate`` itself, to follow the same bits as the paper's code.
    """
    return F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]


def tile_grid(size: tuple[int, int], tile: int) -> list[Window]:
    """Row-major tiles of at most ``tile x tile`` pixels covering ``size``, as equal as can be."""
    height, width = size
    rows, cols = -(-height // tile), -(-width // tile)
    ys = [height * r // rows for r in range(rows + 1)]
    xs = [width * c // cols for c in range(cols + 1)]
    return [Window(ys[r], ys[r + 1], xs[c], xs[c + 1]) for r in range(rows) for c in range(cols)]


def plan(size: tuple[int, int], settings: FullSize) -> list[Window]:
    """The tiles of an image: the whole image when it fits the budget, else the largest that fit."""
    height, width = size
    if settings.tile_bytes(size, size) <= settings.budget:
        return [Window(0, height, 0, width)]

    def cost(side: int) -> int:  # a tile away from the borders, grown on every side
        inner = (min(side, height), min(side, width))
        return settings.tile_bytes(inner, (min(inner[0] + 2 * settings.halo, height),
                                           min(inner[1] + 2 * settings.halo, width)))

    low, high = MIN_TILE, max(height, width)
    while low < high:  # the largest square tile side within the budget (the cost grows with the side)
        side = (low + high + 1) // 2
        low, high = (side, high) if cost(side) <= settings.budget else (low, side - 1)
    return tile_grid(size, low)


def full_size(source: Tensor, image: Tensor, size: tuple[int, int], settings: FullSize,
              keep_probs: bool = True, tiles: list[Window] | None = None,
              halo: int | None = None) -> tuple[Tensor | None, Tensor]:
    """Class probabilities (C, H, W) (None unless ``keep_probs``) and labels (H, W) at ``size``.

    ``source`` (Q, h', w') are the logits before upsampling, ``image`` the
    normalised input (3, h, w) (PAMR's guide, resized to ``size``).

    ``tiles`` (default: :func:`plan`) and ``halo`` (default: the exact one)
    are for tests. One tile: results stay on ``source``'s device; several:
    they are assembled on the CPU.
    """
    tiles = tiles or plan(size, settings)
    guide = pamr_guide(image, size) if settings.pamr_steps > 0 else None
    classes = settings.num_classes
    device = source.device if len(tiles) == 1 else torch.device("cpu")
    stored = keep_probs or len(tiles) == 1  # one tile's probabilities are at hand anyway
    probs_all = torch.empty(classes, *size, device=device) if stored and len(tiles) > 1 else None
    dtype = torch.uint8 if settings.closing and classes <= 256 else torch.int64
    labels = torch.empty(size, dtype=dtype, device=device)
    areas = torch.zeros(classes, dtype=torch.int64, device=source.device)
    shown = []  # per tile: which classes label at least one of its pixels

    def probabilities(tile: Window) -> Tensor:
        logits = refined_logits(source, guide, size, tile, settings, halo)
        probs = logits.new_empty(classes, *logits.shape[1:])
        band = max(1, SOFTMAX_BYTES // (4 * logits.shape[0] * logits.shape[2]))
        for y in range(0, logits.shape[1], band):  # the softmax's temporaries a band at a time
            probs[:, y:y + band] = class_probabilities(logits[:, y:y + band], settings.query_idx, classes,
                                                       settings.logit_scale)
        return probs

    for tile in tiles:
        part = (slice(tile.y1, tile.y2), slice(tile.x1, tile.x2))
        probs = probabilities(tile)
        if settings.area_thd is not None:
            areas += torch.bincount(probs.argmax(0).flatten(), minlength=classes)
        tile_labels = label_map(probs, settings.prob_thd)
        labels[part] = tile_labels.to(device, dtype)
        if settings.area_thd is not None:
            shown.append(torch.bincount(tile_labels.flatten(), minlength=classes) > 0)
        if probs_all is not None:
            probs_all[(slice(None),) + part] = probs.to(device)
        elif stored:
            probs_all = probs
    if settings.area_thd is not None:
        keep = kept_classes(areas, settings.area_thd)
        for tile, classes_shown in zip(tiles, shown):
            if not (classes_shown & ~keep).any():  # no pixel of a dropped class: labels unchanged
                continue
            part = (slice(tile.y1, tile.y2), slice(tile.x1, tile.x2))
            probs = probs_all[(slice(None),) + part] if stored else probabilities(tile)
            probs = probs * keep.to(probs)[:, None, None]
            labels[part] = label_map(probs, settings.prob_thd).to(device, dtype)
        if stored:
            probs_all *= keep.to(probs_all)[:, None, None]
    if stored and settings.renormalise:
        probs_all /= probs_all.sum(0, keepdim=True)
    if settings.closing:
        labels = close(labels)
    return (probs_all if keep_probs else None), labels
