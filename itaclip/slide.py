"""Sliding-window inference (paper section 5), as a few batched passes.

The window grid is mmseg's: ``max(H - crop + stride - 1, 0) // stride + 1``
windows per axis, window ``i`` starting at ``i*stride``, the last ones pushed
back inside the image. Every window of an image therefore has the same size,
so all windows (times five views) stack into one batch, split into chunks
that fit a memory budget. Window logits are summed on a canvas and divided by
the number of windows covering each pixel.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import dense_features, patch_grid


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


def patch_logits(visual: nn.Module, images: Tensor, text_features: Tensor, attn_self: bool = True,
                 encoder=dense_features) -> Tensor:
    """Cosine logits of every patch against every query, (B, Q, grid_h, grid_w), fp32.

    ``encoder`` is :func:`dense_features` or a compiled version of it.
    """
    feats = encoder(visual, images, attn_self=attn_self)[:, 1:].float()
    feats = F.normalize(feats, dim=-1)
    grid_h, grid_w = patch_grid(visual, *images.shape[-2:])
    logits = feats @ text_features.float().T
    return logits.transpose(1, 2).reshape(images.shape[0], -1, grid_h, grid_w)


def images_per_pass(visual: nn.Module, height: int, width: int, budget_bytes: int) -> int:
    """How many ``height x width`` images one forward pass may take within ``budget_bytes``.

    A rough upper bound on the live tensors of one image in a block: the
    residual stream, q/k/v, the MLP's hidden layer and the q/k kept for the
    last block (about 16 token-width tensors), plus one attention matrix per
    head if the attention kernel materialises it; doubled for slack.
    """
    grid_h, grid_w = patch_grid(visual, height, width)
    tokens, dim = grid_h * grid_w + 1, visual.conv1.out_channels
    heads = visual.transformer.resblocks[0].attn.num_heads
    elem = visual.conv1.weight.element_size()
    per_image = 2 * elem * (16 * tokens * dim + 2 * heads * tokens * tokens)
    return max(1, budget_bytes // per_image)


def batched(fn, inputs: Tensor, chunk: int) -> Tensor:
    """``fn`` applied to ``inputs`` in chunks of ``chunk`` along dim 0, concatenated."""
    return torch.cat([fn(inputs[i:i + chunk]) for i in range(0, inputs.shape[0], chunk)])


def stitch(window_logits: Tensor, windows: list[Window], height: int, width: int,
           canvas: Tensor | None = None) -> Tensor:
    """Upsample each window's grid logits (N, Q, h, w) to its size and add it onto ``canvas`` (Q, H, W)."""
    if canvas is None:
        canvas = window_logits.new_zeros(window_logits.shape[1], height, width)
    size = (windows[0].y2 - windows[0].y1, windows[0].x2 - windows[0].x1)
    full = F.interpolate(window_logits, size=size, mode="bilinear", align_corners=False)
    index = _pixel_index(windows, width, canvas.device).flatten()
    canvas.view(canvas.shape[0], -1).index_add_(1, index, full.transpose(0, 1).reshape(canvas.shape[0], -1))
    return canvas
