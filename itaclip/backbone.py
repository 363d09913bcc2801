"""ITACLIP's architectural changes to the CLIP vision tower (paper section 2).

Blocks 1..L-1 run unchanged (written out here so that the q and k of blocks
7, 8 and 10, 1-based, are kept from the same projection of ``ln_1(x)``). The last block mixes its own map
with the mean of those maps, ``A = 0.5*A_L + 0.5*mean(A_7, A_8, A_10)``, applies
it to its own values, and skips its feed-forward part. A map is
``softmax(q q^T s) + softmax(k k^T s)`` (self-self attention, ``attn_self``)
or the usual ``softmax(q k^T s)``; ``s = head_dim ** -0.5``.

Since ``A v`` is linear in ``A``, :func:`dense_features` never builds a map:
each term is one ``scaled_dot_product_attention`` call (the fused form).
:func:`attention_map` keeps the literal map form for checks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FUSED_BLOCKS = (7, 8, 10)  # 1-based blocks whose maps join the last block's (ViT-B/16)


def positional_embedding(visual: nn.Module, grid_h: int, grid_w: int) -> Tensor:
    """Positional embeddings for a ``grid_h x grid_w`` patch grid, class token first.

    Bicubic on the (1, D, g, g) table with ``scale_factor=((h+0.1)/g, (w+0.1)/g)``,
    as the paper's code does. Like that code, a grid with the table's token count
    uses the table as it is.
    """
    table = visual.positional_embedding
    n = table.shape[0] - 1
    if grid_h * grid_w == n:
        return table
    g, dim = int(math.isqrt(n)), table.shape[1]
    grid = table[1:].float().reshape(1, g, g, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((grid_h + 0.1) / g, (grid_w + 0.1) / g), mode="bicubic")
    grid = grid.permute(0, 2, 3, 1).reshape(grid_h * grid_w, dim)
    return torch.cat([table[:1], grid.to(table.dtype)])


def qkv(block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v of a block's own ``in_proj`` on ``ln_1(x)``, each (B, heads, T, head_dim)."""
    attn: nn.MultiheadAttention = block.attn
    b, t, _ = x.shape
    packed = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    packed = packed.view(b, t, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    return packed[0], packed[1], packed[2]


def attention_map(q: Tensor, k: Tensor, attn_self: bool = True) -> Tensor:
    """The literal map of section 2, (B, heads, T, T); rows sum to 2 for self-self."""
    scale = q.shape[-1] ** -0.5
    if attn_self:
        return (q @ q.transpose(-2, -1) * scale).softmax(-1) + (k @ k.transpose(-2, -1) * scale).softmax(-1)
    return (q @ k.transpose(-2, -1) * scale).softmax(-1)


def _apply(q: Tensor, k: Tensor, v: Tensor, attn_self: bool) -> Tensor:
    """``attention_map(q, k) @ v`` without the map."""
    sdpa = F.scaled_dot_product_attention
    if attn_self:
        return sdpa(q, q, v) + sdpa(k, k, v)
    return sdpa(q, k, v)


def fused_attention(last: tuple[Tensor, Tensor, Tensor], kept: list[tuple[Tensor, Tensor]],
                    attn_self: bool = True) -> Tensor:
    """``(0.5*A_last + 0.5*mean(A_kept)) @ v_last`` by scaled-dot-product calls."""
    q, k, v = last
    out = 0.5 * _apply(q, k, v, attn_self)
    if kept:
        weight = 0.5 / len(kept)
        for q_l, k_l in kept:
            out = out + weight * _apply(q_l, k_l, v, attn_self)
    return out


def map_attention(last: tuple[Tensor, Tensor, Tensor], kept: list[tuple[Tensor, Tensor]],
                  attn_self: bool = True) -> Tensor:
    """The same as :func:`fused_attention`, through explicit maps (section 2 verbatim)."""
    q, k, v = last
    attn = attention_map(q, k, attn_self)
    if kept:
        others = torch.stack([attention_map(q_l, k_l, attn_self) for q_l, k_l in kept]).mean(0)
        attn = 0.5 * attn + 0.5 * others
    return attn @ v


def dense_features(visual: nn.Module, images: Tensor, attn_self: bool = True,
                   fused: bool = True, fuse_blocks: tuple[int, ...] = FUSED_BLOCKS) -> Tensor:
    """ITACLIP's vision forward: ``ln_post(x) @ proj`` for all tokens, (B, 1 + h*w, E).

    ``images`` is (B, 3, H, W), already normalised; the patch grid is
    ``(H // patch, W // patch)``. ``fused=False`` uses explicit maps.
    """
    dtype = visual.conv1.weight.dtype
    x = visual.conv1(images.to(dtype))
    b, width, grid_h, grid_w = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(dtype).expand(b, 1, width)
    x = torch.cat([cls, x], dim=1) + positional_embedding(visual, grid_h, grid_w).to(dtype)
    x = visual.ln_pre(x)

    *blocks, last_block = visual.transformer.resblocks
    kept = []
    for index, block in enumerate(blocks, start=1):
        q, k, v = qkv(block, x)
        if index in fuse_blocks:
            kept.append((q, k))
        x = x + block.attn.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape))
        x = x + block.mlp(block.ln_2(x))

    combine = fused_attention if fused else map_attention
    out = combine(qkv(last_block, x), kept, attn_self)  # (B, heads, T, hd)
    out = out.transpose(1, 2).reshape(b, -1, width)
    x = x + last_block.attn.out_proj(out)
    return visual.ln_post(x) @ visual.proj


def patch_grid(visual: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Patch-grid size of an ``height x width`` input."""
    ph, pw = visual.conv1.kernel_size
    return height // ph, width // pw
