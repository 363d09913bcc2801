"""CLIP's vision forward with the last block changed: where ITACLIP and the other training-free methods differ.

Blocks 1..L-1 of CLIP's vision tower run unchanged (written out here so that
the q and k of chosen blocks are kept from the same projection of
``ln_1(x)``; LayerScale, where a model has it, applies as in open_clip).
The last block is described by a :class:`LastBlock`: its
attention kernel (by name, :mod:`itaclip.kernels`), the blocks whose maps
are mixed in, ``A = (1-w) A_L + w mean(A_fused)`` (ITACLIP: blocks 7, 8, 10,
``w = 0.5``), residual and feed-forward.

``A v`` is linear in ``A``, so the fused form never builds a map: each term
is the kernel's :meth:`~itaclip.kernels.AttentionKernel.attend`. ``fused=False``
builds the maps (the literal form, for checks).

:class:`DenseEncoder` is the forward as a module with three hooks, for the
methods that need more than one last block: :meth:`~DenseEncoder.between_blocks`
(refine the tokens after a block), :meth:`~DenseEncoder.last_block` (the last
block's computation: override it for extra passes) and
:meth:`~DenseEncoder.guide_features` with the ``guide`` slot (a second vision
model whose patch features the kernel reads as ``context.guide``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import budget
from .kernels import AttentionKernel, KernelContext, get_kernel
from .settings import BLOCKS, FLAG, FRACTION, POSITIVE, Rule, SettingError, Validated, setting


@dataclass(frozen=True)
class LastBlock(Validated):
    """What the last vision block computes; the defaults are ITACLIP's (paper section 2).

    ``attention`` names a kernel of :mod:`itaclip.kernels` (``"qq+kk"``: ITACLIP's
    self-self attention); the maps of ``fuse_blocks`` (1-based), made with the
    same kernel from those blocks' own q and k, are averaged and mixed in,
    ``A = (1-w) A_L + w mean(A_fused)`` with ``w = fuse_weight``; ``residual``:
    ``x + out_proj(A v)`` or ``out_proj(A v)`` alone; ``ffn``: whether the
    block's feed-forward half runs; ``gaussian_std``: the spread of NACLIP's
    neighbourhood bias, for the kernels that use one; ``proxy_beta`` and
    ``proxy_gamma``: β and γ of ProxyCLIP's proxy attention (kernel ``"proxy"``).
    """

    attention: str = setting("qq+kk", Rule("the name of a registered attention kernel", lambda v: isinstance(v, str)),
                             "the attention kernel of the last block (itaclip.kernels)")
    residual: bool = setting(True, FLAG, "x + out_proj(A v) (True) or out_proj(A v) alone")
    ffn: bool = setting(False, FLAG, "the last block's feed-forward half runs")
    fuse_blocks: tuple[int, ...] = setting((7, 8, 10), BLOCKS, "blocks whose maps are mixed into the last one")
    fuse_weight: float = setting(0.5, FRACTION, "weight w of the mixed-in maps")
    gaussian_std: float = setting(5.0, POSITIVE, "spread of NACLIP's Gaussian neighbourhood bias")
    proxy_beta: float = setting(1.2, POSITIVE, "β of ProxyCLIP's mask: similarities below β·mean are dropped")
    proxy_gamma: float = setting(3.0, POSITIVE, "γ of ProxyCLIP's proxy attention: the scale of its scores")

    def __post_init__(self) -> None:
        super().__post_init__()
        get_kernel(self.attention).check(self)  # the kernel must be registered when a block names it

    @classmethod
    def of(cls, value: "LastBlock | dict") -> "LastBlock":
        """``value`` itself, or the block of a dict of fields (a config's ``last_block=dict(...)``, ``--set``'s),
        checked in one line."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise SettingError(f"last_block={value!r}: last_block must be a dict of LastBlock fields, e.g. "
                               "{'attention': 'qk'}")
        unknown = [key for key in value if key not in cls.keys()]
        if unknown:
            raise SettingError(f"last_block: {unknown[0]!r} is not a LastBlock field; fields: "
                               f"{', '.join(cls.keys())}")
        return cls(**value)


ITACLIP = LastBlock()


def positional_embedding(visual: nn.Module, grid_h: int, grid_w: int) -> Tensor:
    """Positional embeddings for a ``grid_h x grid_w`` patch grid, class token first.

    Bicubic on the (1, D, g, g) table with ``scale_factor=((h+0.1)/g, (w+0.1)/g)``,
    as the paper's code does. Like that code, a grid with the table's token count
    uses the table as it is.
    """
    table = visual.positional_embedding
    if grid_h * grid_w == table.shape[0] - 1:
        return table
    return resample_positions(table, grid_h, grid_w)


def resample_positions(table: Tensor, grid_h: int, grid_w: int) -> Tensor:
    """A positional table (1 + g*g, D), class row first, resampled to a ``grid_h x grid_w`` patch grid.

    The ``g x g`` patch rows (row-major) go through PyTorch's bicubic (A = -0.75,
    ``align_corners=False``) with ``scale_factor=((grid_h + 0.1)/g, (grid_w + 0.1)/g)``: a factor, not a
    size, so output index ``o`` reads source ``(o + 0.5) g / (grid_h + 0.1) - 0.5``. CLIP's and DINO's code
    both resample this way (they differ only in when: :func:`positional_embedding`,
    :func:`itaclip.dino.positions`). Computed in fp32, returned in the table's dtype.
    """
    n, dim = table.shape[0] - 1, table.shape[1]
    g = math.isqrt(n)
    grid = table[1:].float().reshape(1, g, g, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((grid_h + 0.1) / g, (grid_w + 0.1) / g), mode="bicubic")
    if grid.shape[-2:] != (grid_h, grid_w):
        raise ValueError(f"positional table {g}x{g} resampled to {tuple(grid.shape[-2:])}, not {grid_h}x{grid_w}")
    grid = grid.permute(0, 2, 3, 1).reshape(grid_h * grid_w, dim)
    return torch.cat([table[:1], grid.to(table.dtype)])


def qkv(block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v of a block's own ``in_proj`` on ``ln_1(x)``, each (B, heads, T, head_dim)."""
    attn: nn.MultiheadAttention = block.attn
    b, t, _ = x.shape
    packed = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    packed = packed.view(b, t, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    return packed[0], packed[1], packed[2]


def mixed_attention(last: tuple[Tensor, Tensor, Tensor], kept: list[tuple[Tensor, Tensor]],
                    block: LastBlock, context: KernelContext, fused: bool = True) -> Tensor:
    """``((1-w) A_last + w mean(A_kept)) @ v_last`` (just ``A_last @ v_last`` when nothing is kept).

    ``fused=False`` builds the maps (the literal form, for checks).
    """
    q, k, v = last
    kernel = get_kernel(block.attention)
    v = kernel.values(v, context)

    def term(q_: Tensor, k_: Tensor) -> Tensor:
        if fused:
            return kernel.attend(q_, k_, v, context)
        return kernel.attention_map(q_, k_, context) @ v

    if not kept:
        return term(q, k)
    out = (1 - block.fuse_weight) * term(q, k)
    for q_l, k_l in kept:
        out = out + (block.fuse_weight / len(kept)) * term(q_l, k_l)
    return out


@dataclass
class ForwardState:
    """What one forward of :class:`DenseEncoder` knows besides the tokens: the input images, the patch grid,
    the q and k kept from ``fuse_blocks``, the guide model's patch features, the CLIP tower being run, anything
    a hook keeps."""

    images: Tensor
    grid: tuple[int, int]
    kept: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    guide: Tensor | None = None
    visual: nn.Module | None = None
    extra: dict = field(default_factory=dict)


class DenseEncoder(nn.Module):
    """CLIP's vision forward with ``block``'s last block: ``ln_post(x) @ proj`` for all tokens, (B, 1 + h*w, E).

    Called as ``encoder(visual, images, fused=True)`` with ``images`` (B, 3, H, W),
    already normalised; the patch grid is ``(H // patch, W // patch)``. The
    CLIP tower is passed in, not owned. ``guide``: an optional second vision
    model (a module of this encoder, so it moves with the segmentor), whose
    :meth:`guide_features` the kernel reads. Methods subclass this and
    override the hooks; by default the forward is what ``block`` says, nothing more.
    """

    first_patch_row = 1  # the output's rows before the patch rows: CLIP's class token

    def __init__(self, block: LastBlock = ITACLIP, guide: nn.Module | None = None):
        super().__init__()
        self.block, self.guide = block, guide

    def output_grid(self, visual: nn.Module, height: int, width: int) -> tuple[int, int]:
        """The grid of the patch rows :meth:`forward` returns for an ``height x width`` input: CLIP's."""
        return patch_grid(visual, height, width)

    def pass_bytes(self, visual: nn.Module, height: int, width: int) -> int:
        """A rough upper bound on the memory one ``height x width`` image takes in a forward pass
        (:func:`itaclip.budget.tower_bytes` of CLIP's tower; a method with a second model adds its own)."""
        grid_h, grid_w = patch_grid(visual, height, width)
        return budget.tower_bytes(grid_h * grid_w + 1, visual.conv1.out_channels,
                                  visual.transformer.resblocks[0].attn.num_heads, visual.conv1.weight.element_size())

    @property
    def kernel(self) -> AttentionKernel:
        return get_kernel(self.block.attention)

    def guide_features(self, images: Tensor) -> Tensor | None:
        """The second vision model's features of ``images`` (None without one): ``guide(images)``."""
        return None if self.guide is None else self.guide(images)

    def between_blocks(self, index: int, x: Tensor, state: ForwardState) -> Tensor:
        """The tokens after block ``index`` (1-based, up to L-1), before the next block; unchanged here."""
        return x

    def last_block(self, block: nn.Module, x: Tensor, state: ForwardState, fused: bool = True) -> Tensor:
        """The last block on the tokens ``x`` (B, T, width): the mixed attention, residual and feed-forward as
        ``self.block`` says. A method with more than one pass calls :meth:`attention_output` again."""
        out = self.attention_output(block, x, state, fused)
        x = x + out if self.block.residual else out
        if self.block.ffn:
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return x

    def attention_output(self, block: nn.Module, x: Tensor, state: ForwardState, fused: bool = True) -> Tensor:
        """``ls_1(out_proj(A v))`` of ``block`` on ``x``, with the kernel's ``A`` mixed with the kept maps."""
        b, _, width = x.shape
        context = KernelContext(state.grid, self.block, self.kernel.prepare(state.grid, self.block, x.device),
                                state.guide)
        out = mixed_attention(qkv(block, x), state.kept, self.block, context, fused)  # (B, heads, T, hd)
        return block.ls_1(block.attn.out_proj(out.transpose(1, 2).reshape(b, -1, width)))

    def forward(self, visual: nn.Module, images: Tensor, fused: bool = True) -> Tensor:
        dtype = visual.conv1.weight.dtype
        x = visual.conv1(images.to(dtype))
        b, width, grid_h, grid_w = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(dtype).expand(b, 1, width)
        x = torch.cat([cls, x], dim=1) + positional_embedding(visual, grid_h, grid_w).to(dtype)
        x = visual.ln_pre(x)
        state = ForwardState(images, (grid_h, grid_w), guide=self.guide_features(images), visual=visual)

        *blocks, last = visual.transformer.resblocks
        for index, block in enumerate(blocks, start=1):
            q, k, v = qkv(block, x)
            if index in self.block.fuse_blocks:
                state.kept.append((q, k))
            x = x + block.ls_1(block.attn.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2)
                                                   .reshape(x.shape)))
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
            x = self.between_blocks(index, x, state)
        return visual.ln_post(self.last_block(last, x, state, fused)) @ visual.proj


def dense_features(visual: nn.Module, images: Tensor, block: LastBlock = ITACLIP, fused: bool = True) -> Tensor:
    """:class:`DenseEncoder` of ``block`` (no hooks, no guide) on ``images``, (B, 1 + h*w, E)."""
    return DenseEncoder(block)(visual, images, fused)


def patch_grid(visual: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Patch-grid size of an ``height x width`` input."""
    ph, pw = visual.conv1.kernel_size
    return height // ph, width // pw
