"""DINO's vision transformer (Caron et al., ICCV 2021) as a second vision model: built from a state dict in
DINO's key layout, with DINO's own resampling of the positional table.

The network is timm's ``VisionTransformer`` (DINO's released key names load into it as they are: pre-norm
blocks, ``qkv`` with bias, exact GELU, LayerNorm eps 1e-6, a class token, no head). Only the token
embedding is written here, because the positional table is resampled by DINO's rule, not timm's
(:func:`positions`): timm resizes to a target size with antialiasing, DINO by a scale factor.

The forward (what DINO's ``get_intermediate_layers(x)[0]`` returns): patch conv (kernel = stride = patch),
class token first, positional table, the blocks, the final LayerNorm on all tokens, (B, 1 + h*w, C).
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from .backbone import resample_positions

LAYOUT = ("cls_token", "pos_embed", "patch_embed.proj.weight", "norm.weight")  # keys every DINO ViT has


class ShapeError(ValueError):
    """A state dict that is not a DINO ViT's (one line naming what is missing)."""


def architecture(state: dict[str, Tensor]) -> dict:
    """The network a DINO-layout state dict holds, read from its shapes.

    Patch = kernel of ``patch_embed.proj.weight``, width = size of ``norm.weight``, depth = number of
    ``blocks.{i}``, heads = width // 64 (every DINO release; the file does not store it), MLP hidden size =
    rows of ``fc1.weight``, positional table side = sqrt(rows of ``pos_embed`` - 1).
    """
    missing = [key for key in LAYOUT if key not in state]
    if missing:
        raise ShapeError(f"no {missing[0]!r} key: not a DINO ViT state dict (keys cls_token, pos_embed, "
                         "patch_embed.proj.weight, blocks.<i>.*, norm.*)")
    width = state["norm.weight"].shape[0]
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    side = math.isqrt(state["pos_embed"].shape[1] - 1)
    if side * side != state["pos_embed"].shape[1] - 1 or width % 64:
        raise ShapeError(f"pos_embed of {state['pos_embed'].shape[1]} rows or width {width}: not a DINO ViT "
                         "(a square positional table with a class row, width a multiple of 64)")
    return dict(patch=state["patch_embed.proj.weight"].shape[-1], width=width, depth=depth, heads=width // 64,
                mlp_ratio=hidden / width, table_side=side)


def positions(table: Tensor, grid_h: int, grid_w: int, square: bool) -> Tensor:
    """DINO's positional embeddings for a ``grid_h x grid_w`` grid, (1 + grid_h*grid_w, C).

    DINO uses the table as stored only when the token count matches **and** the input is square (``square``:
    H == W in pixels); otherwise it resamples (:func:`~itaclip.backbone.resample_positions`), even an axis
    that keeps its size. CLIP's rule looks at the count alone.
    """
    if square and grid_h * grid_w == table.shape[0] - 1:
        return table
    return resample_positions(table, grid_h, grid_w)


class DinoViT(nn.Module):
    """A DINO ViT: ``DinoViT(state)`` builds the network of a DINO-layout state dict and loads it strictly.

    ``forward(images)``, images ImageNet-normalised (B, 3, H, W), gives the final-normed tokens (B, 1 + h*w, C),
    ``h, w = H // patch, W // patch``.
    """

    def __init__(self, state: dict[str, Tensor]):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        self.arch = architecture(state)
        a = self.arch
        self.net = VisionTransformer(img_size=a["patch"] * a["table_side"], patch_size=a["patch"],
                                     embed_dim=a["width"], depth=a["depth"], num_heads=a["heads"],
                                     mlp_ratio=a["mlp_ratio"], qkv_bias=True, num_classes=0, global_pool="",
                                     norm_layer=partial(nn.LayerNorm, eps=1e-6))
        result = self.net.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            key = (result.missing_keys or result.unexpected_keys)[0]
            raise ShapeError(f"{'missing' if result.missing_keys else 'unexpected'} key {key!r}: not the layout of "
                             "a DINO ViT state dict")
        self.net.requires_grad_(False)

    @property
    def patch(self) -> int:
        return self.arch["patch"]

    @property
    def width(self) -> int:
        return self.arch["width"]

    @property
    def heads(self) -> int:
        return self.arch["heads"]

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid of an ``height x width`` input."""
        return height // self.patch, width // self.patch

    def forward(self, images: Tensor) -> Tensor:
        net = self.net
        x = net.patch_embed.proj(images.to(net.cls_token.dtype))  # (B, C, h, w)
        b, _, grid_h, grid_w = x.shape
        x = torch.cat([net.cls_token.expand(b, -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
        x = x + positions(net.pos_embed[0], grid_h, grid_w, images.shape[-2] == images.shape[-1])
        for block in net.blocks:
            x = block(x)
        return net.norm(x)

    def patch_features(self, images: Tensor) -> Tensor:
        """The patch tokens of :meth:`forward` as a grid, (B, C, h, w) (the class token dropped)."""
        tokens = self(images)[:, 1:]
        grid_h, grid_w = self.grid(*images.shape[-2:])
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, grid_h, grid_w)
