"""Sliding-window inference (paper section 5), as a few batched passes.

The window grid is mmseg's: ``max(H - crop + stride - 1, 0) // stride + 1``
windows per axis, window ``i`` starting at ``i*stride``, the last ones pushed
back inside the image. Every window of an image therefore has the same size,
so all windows (times five views) stack into one batch, split into chunks
that fit a memory budget. Window logits are summed on a canvas and divided by
the number of windows covering each pixel.

Bilinear upsampling of a window's patch-grid logits is a linear map on each
axis, ``U_h G U_w^T``, and the windows form a full rows x columns grid, so
upsampling every window and adding it at its place is one product
``R G_all C^T`` per query: ``R`` stacks the row maps at their offsets, ``C``
the column maps, ``G_all`` tiles the windows' grids. No window is ever
upsampled on its own.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Window(NamedTuple):
    y1: int
    y2: int
    x1: int
    x2: int


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def window_grid(height: int, width: int, crop: int | tuple[int, int],
                stride: int | tuple[int, int]) -> list[Window]:
    """The windows of section 5, row-major; an image smaller than ``crop`` is one window."""
    (crop_h, crop_w), (stride_h, stride_w) = _pair(crop), _pair(stride)
    rows = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    cols = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    windows = []
    for r in range(rows):
        for c in range(cols):
            y2, x2 = min(r * stride_h + crop_h, height), min(c * stride_w + crop_w, width)
            windows.append(Window(max(y2 - crop_h, 0), y2, max(x2 - crop_w, 0), x2))
    return windows


def _pixel_index(windows: list[Window], width: int, device=None) -> Tensor:
    """Flat pixel index of every pixel of every window, (N, h, w)."""
    h, w = windows[0].y2 - windows[0].y1, windows[0].x2 - windows[0].x1
    tops = torch.tensor([win.y1 for win in windows], device=device)
    lefts = torch.tensor([win.x1 for win in windows], device=device)
    rows = tops[:, None] + torch.arange(h, device=device)
    cols = lefts[:, None] + torch.arange(w, device=device)
    return rows[:, :, None] * width + cols[:, None, :]


def crop_windows(image: Tensor, windows: list[Window]) -> Tensor:
    """(C, H, W) image -> (N, C, h, w) stack of its (equal-sized) windows, in one gather."""
    index = _pixel_index(windows, image.shape[-1], image.device)
    return image.flatten(1)[:, index].transpose(0, 1)


def coverage(windows: list[Window], height: int, width: int, device=None) -> Tensor:
    """How many windows cover each pixel, (1, H, W)."""
    index = _pixel_index(windows, width, device).flatten()
    return torch.bincount(index, minlength=height * width).view(1, height, width).float()


def bilinear_taps(out_size: int, in_size: int, start: int = 0, stop: int | None = None,
                  device=None) -> tuple[Tensor, Tensor, Tensor]:
    """1-D bilinear resizing as ``F.interpolate(align_corners=False)`` does it, for outputs ``start:stop``.

    Output ``i`` is ``(1 - frac[i]) * x[low[i]] + frac[i] * x[high[i]]``; any
    range of outputs is computed exactly, which is what lets full-size stages
    run in tiles. The source position is rounded to fp32 as PyTorch's CPU
    kernel rounds it, so the weights are PyTorch's to the last bit.
    """
    stop = out_size if stop is None else stop
    scale = float(torch.tensor(float(in_size), dtype=torch.float32) / out_size)
    dst = torch.arange(start, stop, device=device, dtype=torch.float64)
    src = (scale * (dst + 0.5) - 0.5).float().clamp(min=0)
    low = src.long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    return low, high, (src - low.float()).clamp(0, 1)


def bilinear_matrix(out_size: int, in_size: int, device=None) -> Tensor:
    """(out, in) matrix of 1-D bilinear resizing (:func:`bilinear_taps` as a matrix)."""
    low, high, frac = bilinear_taps(out_size, in_size, device=device)
    matrix = torch.zeros(out_size, in_size, device=device)
    rows = torch.arange(out_size, device=device)
    matrix.index_put_((rows, low), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix


def pad_to_multiple(size: int, multiple: int) -> tuple[int, int]:
    """``(before, after)`` padding that makes ``size`` a multiple of ``multiple``, split as evenly as
    possible (the smaller half before): how ClearCLIP pads a window to whole patches."""
    extra = -size % multiple
    return extra // 2, extra - extra // 2


def patch_padding(visual: nn.Module, height: int, width: int,
                  multiple: int | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` that pad a ``height x width`` crop to whole patches of ``visual``
    (ClearCLIP), or to a multiple of ``multiple`` pixels on each side when given (ProxyCLIP's 56)."""
    patch_h, patch_w = (multiple, multiple) if multiple else visual.conv1.kernel_size
    return pad_to_multiple(height, patch_h), pad_to_multiple(width, patch_w)


def _placement(starts: list[int], size: int, grid: int, total: int, device=None,
               padding: tuple[int, int] = (0, 0)) -> Tensor:
    """(total, len(starts)*grid): each window's bilinear map placed at its offset along one axis.

    A window padded by ``padding`` (before, after) had its grid resized to the
    padded size; only the window's own rows of that map are kept.
    """
    before, after = padding
    resize = bilinear_matrix(size + before + after, grid, device)[before:before + size]
    out = torch.zeros(total, len(starts) * grid, device=device)
    for i, start in enumerate(starts):
        out[start:start + size, i * grid:(i + 1) * grid] = resize
    return out


def patch_logits(images: Tensor, text_features: Tensor, encode, grid: tuple[int, int], first_row: int = 1) -> Tensor:
    """Cosine logits of every patch against every query, (B, Q, grid_h, grid_w), fp32.

    ``encode(images)`` gives the dense features (B, first_row + h*w, E) (a method's
    :class:`~itaclip.backbone.DenseEncoder`, compiled or not: its
    :meth:`~itaclip.backbone.DenseEncoder.output_grid` and ``first_patch_row``, 1 for CLIP's class token).
    """
    feats = encode(images)[:, first_row:].float()
    feats = F.normalize(feats, dim=-1)
    logits = feats @ text_features.float().T
    return logits.transpose(1, 2).reshape(images.shape[0], -1, *grid)


def batched(fn, inputs: Tensor, chunk: int) -> Tensor:
    """``fn`` applied to ``inputs`` in chunks of ``chunk`` along dim 0, concatenated."""
    return torch.cat([fn(inputs[i:i + chunk]) for i in range(0, inputs.shape[0], chunk)])


def stitch(window_logits: Tensor, windows: list[Window], height: int, width: int,
           padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))) -> Tensor:
    """Sum of every window's logits (N, Q, h, w) upsampled to its size and placed, (Q, H, W).

    ``padding``: ((top, bottom), (left, right)) the windows were padded by before the network.
    """
    tops = sorted({w.y1 for w in windows})
    lefts = sorted({w.x1 for w in windows})
    assert len(tops) * len(lefts) == len(windows), "windows must form a full grid, row-major"
    n_rows, n_cols = len(tops), len(lefts)
    _, queries, grid_h, grid_w = window_logits.shape
    size_h, size_w = windows[0].y2 - windows[0].y1, windows[0].x2 - windows[0].x1
    device = window_logits.device
    rows = _placement(tops, size_h, grid_h, height, device, padding[0])  # (H, n_rows*grid_h)
    cols = _placement(lefts, size_w, grid_w, width, device, padding[1])  # (W, n_cols*grid_w)
    tiled = window_logits.float().view(n_rows, n_cols, queries, grid_h, grid_w)
    tiled = tiled.permute(2, 0, 3, 1, 4).reshape(queries, n_rows * grid_h, n_cols * grid_w)
    return rows @ tiled @ cols.T
