"""ProxyCLIP (Lan et al., ECCV 2024): a second vision model decides which patches belong together, CLIP what
they are.

The last CLIP block is replaced by the proxy attention of :mod:`itaclip.kernels` (``"proxy"``): its map
comes from the cosine similarities of the guide's patch features (DINO's, :mod:`itaclip.dino`), its values
are CLIP's, resized to the guide's grid; no residual, no feed-forward, no class token. The output lies on
the guide's grid (42 x 42 for a 336 window and DINO's patch 8), which :class:`ProxyEncoder` declares.

The guide sees the same (padded) window as CLIP, re-normalised (:class:`VisionGuide`): CLIP's
normalisation undone with CLIP's 0-1 constants (``u = x s + m``), ImageNet's applied
(``(u - mean) / std``).

One deliberate difference from the authors' code: they take both sides of the guide's grid from the
window's height, which raises or silently scrambles the features of a non-square window; here the grid is
the true one, ``(H // patch, W // patch)``. Their protocols only make square windows, where both agree.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from . import budget
from .backbone import DenseEncoder, LastBlock

PROXYCLIP_PADDING = 56  # windows are zero-padded to a multiple of 56 pixels on each side (the authors' number)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
M_SQUARED_TENSORS = 4  # fp32 (M, M) tensors the proxy attention holds at once: S, its scores, the softmax, slack


class VisionGuide(nn.Module):
    """A second vision model as the encoder's guide: CLIP-normalised images (B, 3, H, W) -> its patch
    features (B, C, h, w).

    ``model`` has ``patch_features(images)``, ``grid(height, width)``, ``width`` and ``heads``
    (:class:`~itaclip.dino.DinoViT`); ``clip_mean``/``clip_std`` are the CLIP's normalisation on the 0-1 scale.
    """

    def __init__(self, model: nn.Module, clip_mean, clip_std, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.model = model
        for name, values in (("clip_mean", clip_mean), ("clip_std", clip_std), ("mean", mean), ("std", std)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def renormalise(self, images: Tensor) -> Tensor:
        """``((x s + m) - mean) / std``: CLIP's normalisation undone, the model's own applied (in this order)."""
        return (images.float() * self.clip_std + self.clip_mean - self.mean) / self.std

    def grid(self, height: int, width: int) -> tuple[int, int]:
        return self.model.grid(height, width)

    def forward(self, images: Tensor) -> Tensor:
        return self.model.patch_features(self.renormalise(images))


class ProxyEncoder(DenseEncoder):
    """CLIP's vision forward with the proxy attention as its last block, guided by a :class:`VisionGuide`:
    (B, h*w, E) on the guide's grid, no class row."""

    first_patch_row = 0

    def __init__(self, block: LastBlock, guide: VisionGuide):
        if block.attention != "proxy":
            raise ValueError(f"ProxyEncoder runs the 'proxy' attention kernel, not {block.attention!r}")
        super().__init__(block, guide)

    def output_grid(self, visual: nn.Module, height: int, width: int) -> tuple[int, int]:
        return self.guide.grid(height, width)

    def pass_bytes(self, visual: nn.Module, height: int, width: int) -> int:
        """CLIP's tower, the guide's tower and the (M, M) proxy attention of one image."""
        grid_h, grid_w = self.guide.grid(height, width)
        m = grid_h * grid_w
        model = self.guide.model
        element = next(model.parameters()).element_size()
        guide_bytes = budget.tower_bytes(m + 1, model.width, model.heads, element)
        values = 2 * m * visual.conv1.out_channels * visual.conv1.weight.element_size()  # resized values, output
        return super().pass_bytes(visual, height, width) + guide_bytes + values + M_SQUARED_TENSORS * 4 * m * m
