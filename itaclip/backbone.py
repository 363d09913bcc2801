"""The last vision block, as a small recipe: where ITACLIP and the other training-free methods differ.

Blocks 1..L-1 of CLIP's vision tower run unchanged (written out here so that
the q and k of chosen blocks are kept from the same projection of
``ln_1(x)``; LayerScale, where a model has it, applies as in open_clip).
The last block is described by a :class:`LastBlock`:

* ``attention``: the kernel of its attention map, per head, with
  ``s = head_dim ** -0.5``: ``"qk"`` ``softmax(q k^T s)`` (CLIP's own),
  ``"qq"`` ``softmax(q q^T s)`` (ClearCLIP), ``"kk"``, ``"qq+kk"``
  ``softmax(q q^T s) + softmax(k k^T s)`` (ITACLIP's self-self attention,
  SCLIP's CSA; rows sum to 2), ``"kk+gaussian"`` ``softmax(k k^T s + G)``
  (NACLIP: ``G`` a Gaussian neighbourhood bias), ``"gaussian"``
  ``softmax(s' G)`` (NACLIP's neighbourhood only), ``"identity"`` (MaskCLIP:
  every token keeps its own value);
* ``fuse_blocks``/``fuse_weight``: the maps of these (1-based) blocks, made
  with the same kernel from their own q and k, are averaged and mixed in,
  ``A = (1-w) A_L + w mean(A_fused)`` (ITACLIP: blocks 7, 8, 10, ``w = 0.5``);
* ``residual``: ``x + out_proj(A v)`` or ``out_proj(A v)`` alone;
* ``ffn``: whether the block's feed-forward half (``ln_2``, MLP, residual) runs.

``A v`` is linear in ``A``, so :func:`dense_features` never builds a map:
each term is one ``scaled_dot_product_attention`` call (the fused form).
:func:`attention_map` keeps the literal map form for checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ATTENTIONS = ("qk", "qq", "kk", "qq+kk", "kk+gaussian", "gaussian", "identity")


@dataclass(frozen=True)
class LastBlock:
    """What the last vision block computes; the defaults are ITACLIP's (paper section 2)."""

    attention: str = "qq+kk"
    residual: bool = True
    ffn: bool = False
    fuse_blocks: tuple[int, ...] = (7, 8, 10)
    fuse_weight: float = 0.5
    gaussian_std: float = 5.0

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"last_block attention {self.attention!r} is not one of {', '.join(ATTENTIONS)}")
        if "gaussian" in self.attention and not self.gaussian_std > 0:
            raise ValueError(f"last_block gaussian_std must be > 0 for attention {self.attention!r}")
        object.__setattr__(self, "fuse_blocks", tuple(int(b) for b in self.fuse_blocks))


ITACLIP = LastBlock()


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


def neighbourhood_bias(grid_h: int, grid_w: int, std: float, device=None, dtype=torch.float32) -> Tensor:
    """NACLIP's Gaussian bias ``G`` over the class token and a ``grid_h x grid_w`` patch grid, (T, T).

    ``G[i, j] = exp(-(dr^2 + dc^2) / (2 std^2))`` between patches (built, like
    the authors', from fp32 linspaces); the class token's row and column are 0.
    """
    c = 1.0 / (std * math.sqrt(2.0))
    t = torch.linspace(-(grid_h - 1) * c, (grid_h - 1) * c, 2 * grid_h - 1, device=device)
    u = torch.linspace(-(grid_w - 1) * c, (grid_w - 1) * c, 2 * grid_w - 1, device=device)
    window = torch.exp(-(t[:, None] ** 2 + u[None, :] ** 2))  # (2h-1, 2w-1), centred
    rows = torch.arange(grid_h, device=device).repeat_interleave(grid_w)
    cols = torch.arange(grid_w, device=device).repeat(grid_h)
    patches = window[rows[:, None] - rows[None, :] + grid_h - 1, cols[:, None] - cols[None, :] + grid_w - 1]
    return F.pad(patches, (1, 0, 1, 0)).to(dtype)


def _neighbour_scale(q: Tensor, k: Tensor) -> Tensor:
    """NACLIP's scale for ``"gaussian"``: ``s * mean_heads(mean_i |q_i| * mean_j |k_j|)``, per image, (B,1,1,1)."""
    scale = q.shape[-1] ** -0.5
    return scale * (q.norm(dim=-1).mean(-1) * k.norm(dim=-1).mean(-1)).mean(-1)[:, None, None, None]


def attention_map(q: Tensor, k: Tensor, attention: str = "qq+kk", bias: Tensor | None = None) -> Tensor:
    """The literal map of a kernel, (B, heads, T, T) (``bias``: the Gaussian ``G`` where one is used)."""
    scale = q.shape[-1] ** -0.5
    if attention == "qk":
        return (q @ k.transpose(-2, -1) * scale).softmax(-1)
    if attention == "qq":
        return (q @ q.transpose(-2, -1) * scale).softmax(-1)
    if attention == "kk":
        return (k @ k.transpose(-2, -1) * scale).softmax(-1)
    if attention == "qq+kk":
        return attention_map(q, k, "qq") + attention_map(q, k, "kk")
    if attention == "kk+gaussian":
        return (k @ k.transpose(-2, -1) * scale + bias).softmax(-1)
    if attention == "gaussian":
        return (_neighbour_scale(q, k) * bias).softmax(-1).expand(-1, q.shape[1], -1, -1)
    if attention == "identity":
        return torch.eye(q.shape[-2], dtype=q.dtype, device=q.device).expand(*q.shape[:2], -1, -1)
    raise ValueError(f"unknown attention {attention!r}")


def apply_attention(q: Tensor, k: Tensor, v: Tensor, attention: str = "qq+kk", bias: Tensor | None = None) -> Tensor:
    """``attention_map(q, k, attention, bias) @ v`` without the map: scaled-dot-product calls."""
    sdpa = F.scaled_dot_product_attention
    if attention == "qk":
        return sdpa(q, k, v)
    if attention == "qq":
        return sdpa(q, q, v)
    if attention == "kk":
        return sdpa(k, k, v)
    if attention == "qq+kk":
        return sdpa(q, q, v) + sdpa(k, k, v)
    if attention == "kk+gaussian":
        return sdpa(k, k, v, attn_mask=bias.to(k.dtype))
    if attention == "gaussian":  # a zero query: the scores are the mask alone
        return sdpa(torch.zeros_like(q), k, v, attn_mask=(_neighbour_scale(q, k) * bias).to(q.dtype))
    if attention == "identity":
        return v
    raise ValueError(f"unknown attention {attention!r}")


def mixed_attention(last: tuple[Tensor, Tensor, Tensor], kept: list[tuple[Tensor, Tensor]],
                    recipe: LastBlock = ITACLIP, bias: Tensor | None = None, fused: bool = True) -> Tensor:
    """``((1-w) A_last + w mean(A_kept)) @ v_last`` (just ``A_last @ v_last`` when nothing is kept).

    ``fused=False`` builds the maps (the literal form, for checks).
    """
    q, k, v = last

    def term(q_: Tensor, k_: Tensor) -> Tensor:
        if fused:
            return apply_attention(q_, k_, v, recipe.attention, bias)
        return attention_map(q_, k_, recipe.attention, bias) @ v

    if not kept:
        return term(q, k)
    out = (1 - recipe.fuse_weight) * term(q, k)
    for q_l, k_l in kept:
        out = out + (recipe.fuse_weight / len(kept)) * term(q_l, k_l)
    return out


def dense_features(visual: nn.Module, images: Tensor, recipe: LastBlock = ITACLIP, fused: bool = True) -> Tensor:
    """CLIP's vision forward with ``recipe``'s last block: ``ln_post(x) @ proj`` for all tokens, (B, 1 + h*w, E).

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
        if index in recipe.fuse_blocks:
            kept.append((q, k))
        x = x + block.ls_1(block.attn.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2)
                                               .reshape(x.shape)))
        x = x + block.ls_2(block.mlp(block.ln_2(x)))

    bias = None
    if "gaussian" in recipe.attention:
        bias = neighbourhood_bias(grid_h, grid_w, recipe.gaussian_std, x.device)
    out = mixed_attention(qkv(last_block, x), kept, recipe, bias, fused)  # (B, heads, T, hd)
    out = last_block.ls_1(last_block.attn.out_proj(out.transpose(1, 2).reshape(b, -1, width)))
    x = x + out if recipe.residual else out
    if recipe.ffn:
        x = x + last_block.ls_2(last_block.mlp(last_block.ln_2(x)))
    return visual.ln_post(x) @ visual.proj


def patch_grid(visual: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Patch-grid size of an ``height x width`` input."""
    ph, pw = visual.conv1.kernel_size
    return height // ph, width // pw
