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


def crop_windows(image: Tensor, windows: list[Window]) -> Tensor:
    """(C, H, W) image -> (N, C, h, w) stack of its (equal-sized) windows."""
    return torch.stack([image[:, w.y1:w.y2, w.x1:w.x2] for w in windows])


def coverage(windows: list[Window], height: int, width: int, device=None) -> Tensor:
    """How many windows cover each pixel, (1, H, W)."""
    count = torch.zeros(1, height, width, device=device)
    for w in windows:
        count[:, w.y1:w.y2, w.x1:w.x2] += 1
    return count


def patch_logits(visual: nn.Module, images: Tensor, text_features: Tensor,
                 attn_self: bool = True) -> Tensor:
    """Cosine logits of every patch against every query, (B, Q, grid_h, grid_w), fp32."""
    feats = dense_features(visual, images, attn_self=attn_self)[:, 1:].float()
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
    for logit, w in zip(full, windows):
        canvas[:, w.y1:w.y2, w.x1:w.x2] += logit
    return canvas
