"""Attention kernels of the last vision block, by name: the one place where methods differ in attention.

A kernel says how the last block's attention map ``A`` is made from the
per-head ``q`` and ``k`` (B, heads, T, head_dim), with ``s = head_dim ** -0.5``:

==================  ===============================================================  ===================
``"qk"``            ``softmax(q k^T s)``                                             CLIP's own
``"qq"``            ``softmax(q q^T s)``                                             ClearCLIP
``"kk"``            ``softmax(k k^T s)``
``"qq+kk"``         ``softmax(q q^T s) + softmax(k k^T s)`` (rows sum to 2)          ITACLIP, SCLIP
``"kk+gaussian"``   ``softmax(k k^T s + G)``, ``G`` a Gaussian neighbourhood bias     NACLIP
``"gaussian"``      ``softmax(s' G)``, ``s' = s mean_h(mean_i |q_i| mean_j |k_j|)``   NACLIP's ablation
``"identity"``      ``A = I``: every token keeps its own value                       MaskCLIP
``"scclip"``        ``(softmax(M~) + softmax(k k^T s)) / 2``, ``M~ = 3 (M - mean M)``  SC-CLIP
                    at -inf where negative, ``M`` a similarity (``context.guide``)
``"proxy"``         ``softmax(γ (S - β mean S))`` at -inf where negative, ``S`` the    ProxyCLIP
                    cosine similarity of a second vision model's patch features
                    (``context.guide``), on that model's grid; q and k unused
==================  ===============================================================  ===================

Each kernel keeps two forms side by side: :meth:`AttentionKernel.attention_map`,
the literal map, and :meth:`AttentionKernel.attend`, ``A v`` without building
``A`` (scaled-dot-product calls: the fused form). Tests hold the fused form to
the literal one.

A kernel of your own is a class registered under a name, in your own file::

    from itaclip.kernels import AttentionKernel, register_kernel

    @register_kernel("kk-sharp")
    class SharpKeys(AttentionKernel):
        def attention_map(self, q, k, context):
            return (2 * k @ k.transpose(-2, -1) * k.shape[-1] ** -0.5).softmax(-1)

and a config names that file in ``custom_imports`` and the kernel in
``last_block=dict(attention="kk-sharp")``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .settings import SettingError


@dataclass(frozen=True)
class KernelContext:
    """What a kernel may read besides q, k and v: the patch grid, the last block's settings
    (:class:`~itaclip.backbone.LastBlock`), what the
    kernel's :meth:`~AttentionKernel.prepare` made once per forward (``prepared``, e.g. a bias) and what
    guides the attention besides q and k (``guide``: a second vision model's patch features (B, T', D), or
    a method's own similarity of the tokens (B, N, N) as SC-CLIP's; None for most)."""

    grid: tuple[int, int]
    block: Any = None
    prepared: Any = None
    guide: Tensor | None = None


class AttentionKernel:
    """How the last block's attention map is made. Subclasses give :meth:`attention_map` (the literal form)
    and, where it pays, :meth:`attend` (the fused form, equal to ``attention_map(q, k) @ v``)."""

    name = ""

    def check(self, block: Any) -> None:
        """Refuse settings this kernel cannot use, with a :class:`~itaclip.settings.SettingError` (nothing here)."""

    def prepare(self, grid: tuple[int, int], block: Any, device: torch.device) -> Any:
        """Made once per forward and handed to every call as ``context.prepared`` (e.g. a bias); None."""
        return None

    def attention_map(self, q: Tensor, k: Tensor, context: KernelContext) -> Tensor:
        """The literal map ``A``, (B, heads, T, T)."""
        raise NotImplementedError(f"attention kernel {self.name!r} defines no attention_map")

    def attend(self, q: Tensor, k: Tensor, v: Tensor, context: KernelContext) -> Tensor:
        """``A v``, (B, heads, T, head_dim); by default through the literal map."""
        return self.attention_map(q, k, context) @ v

    def values(self, v: Tensor, context: KernelContext) -> Tensor:
        """The values ``A`` applies to, from the block's own (B, heads, T, head_dim): these, unchanged (a
        kernel whose map lives on another grid resamples them)."""
        return v


KERNELS: dict[str, AttentionKernel] = {}


def register_kernel(name: str, *, replace: bool = False) -> Callable:
    """Register a kernel class (or instance) under ``name``; a name already taken is refused unless
    ``replace``."""
    def register(kernel):
        if name in KERNELS and not replace:
            raise ValueError(f"attention kernel {name!r} is registered already; pick another name or pass "
                             "replace=True")
        instance = kernel() if isinstance(kernel, type) else kernel
        instance.name = name
        KERNELS[name] = instance
        return kernel

    return register


def get_kernel(name: str) -> AttentionKernel:
    """The kernel registered as ``name``, or a one-line :class:`~itaclip.settings.SettingError` listing them."""
    if name not in KERNELS:
        raise SettingError(f"attention={name!r}: attention must be the name of a registered attention kernel "
                           f"({', '.join(KERNELS)}; a kernel of your own is registered with "
                           "itaclip.kernels.register_kernel in a module the config's custom_imports names)")
    return KERNELS[name]


def _scores(a: Tensor, b: Tensor) -> Tensor:
    return a @ b.transpose(-2, -1) * a.shape[-1] ** -0.5


@register_kernel("qk")
class QueryKey(AttentionKernel):
    """``softmax(q k^T s)``: CLIP's own attention."""

    def attention_map(self, q, k, context):
        return _scores(q, k).softmax(-1)

    def attend(self, q, k, v, context):
        return F.scaled_dot_product_attention(q, k, v)


@register_kernel("qq")
class QueryQuery(AttentionKernel):
    """``softmax(q q^T s)``: ClearCLIP."""

    def attention_map(self, q, k, context):
        return _scores(q, q).softmax(-1)

    def attend(self, q, k, v, context):
        return F.scaled_dot_product_attention(q, q, v)


@register_kernel("kk")
class KeyKey(AttentionKernel):
    """``softmax(k k^T s)``."""

    def attention_map(self, q, k, context):
        return _scores(k, k).softmax(-1)

    def attend(self, q, k, v, context):
        return F.scaled_dot_product_attention(k, k, v)


@register_kernel("qq+kk")
class SelfSelf(AttentionKernel):
    """``softmax(q q^T s) + softmax(k k^T s)``: ITACLIP's self-self attention, SCLIP's CSA (rows sum to 2)."""

    def attention_map(self, q, k, context):
        return _scores(q, q).softmax(-1) + _scores(k, k).softmax(-1)

    def attend(self, q, k, v, context):
        return F.scaled_dot_product_attention(q, q, v) + F.scaled_dot_product_attention(k, k, v)


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


class _Neighbourhood(AttentionKernel):
    """Kernels with NACLIP's Gaussian bias, made once per forward from the grid and ``gaussian_std``."""

    def prepare(self, grid, block, device):
        return neighbourhood_bias(*grid, block.gaussian_std, device)


@register_kernel("kk+gaussian")
class KeyKeyNeighbourhood(_Neighbourhood):
    """``softmax(k k^T s + G)``: NACLIP."""

    def attention_map(self, q, k, context):
        return (_scores(k, k) + context.prepared).softmax(-1)

    def attend(self, q, k, v, context):
        return F.scaled_dot_product_attention(k, k, v, attn_mask=context.prepared.to(k.dtype))


def _neighbour_scale(q: Tensor, k: Tensor) -> Tensor:
    """NACLIP's scale for ``"gaussian"``: ``s * mean_heads(mean_i |q_i| * mean_j |k_j|)``, per image, (B,1,1,1)."""
    scale = q.shape[-1] ** -0.5
    return scale * (q.norm(dim=-1).mean(-1) * k.norm(dim=-1).mean(-1)).mean(-1)[:, None, None, None]


@register_kernel("gaussian")
class Neighbourhood(_Neighbourhood):
    """``softmax(s' G)``: NACLIP's neighbourhood alone."""

    def attention_map(self, q, k, context):
        return (_neighbour_scale(q, k) * context.prepared).softmax(-1).expand(-1, q.shape[1], -1, -1)

    def attend(self, q, k, v, context):  # a zero query: the scores are the mask alone
        mask = (_neighbour_scale(q, k) * context.prepared).to(q.dtype)
        return F.scaled_dot_product_attention(torch.zeros_like(q), k, v, attn_mask=mask)


@register_kernel("identity")
class Identity(AttentionKernel):
    """``A = I``: MaskCLIP (the values pass through)."""

    def attention_map(self, q, k, context):
        return torch.eye(q.shape[-2], dtype=q.dtype, device=q.device).expand(*q.shape[:2], -1, -1)

    def attend(self, q, k, v, context):
        return v


@register_kernel("scclip")
class SimilarityGuided(AttentionKernel):
    """``(softmax(M~) + softmax(k k^T s)) / 2`` with ``M~ = 3 (M - mean M)``, negative entries at -inf:
    the similarity ``M`` (B, N, N) comes as ``context.guide`` (q is not used)."""

    sharpness = 3.0  # the factor on the centred similarity

    def guide_scores(self, guide: Tensor) -> Tensor:
        centred = self.sharpness * (guide - guide.mean(dim=(-2, -1), keepdim=True))
        return centred.masked_fill(centred < 0, float("-inf"))[:, None]  # (B, 1, N, N), every head

    def attention_map(self, q, k, context):
        keys = ((k @ k.transpose(-2, -1)) * k.shape[-1] ** -0.5).softmax(-1)
        return (self.guide_scores(context.guide).softmax(-1) + keys) / 2

    def attend(self, q, k, v, context):
        scores = self.guide_scores(context.guide).to(v.dtype)
        guided = F.scaled_dot_product_attention(torch.zeros_like(k), k, v, attn_mask=scores)  # softmax(M~) v
        return (guided + F.scaled_dot_product_attention(k, k, v)) / 2


class ProxyMaskError(SettingError):
    """ProxyCLIP's threshold masks every entry of some row: its attention would be NaN."""


@register_kernel("proxy")
class ProxyAttention(AttentionKernel):
    """ProxyCLIP's proxy attention: the attention comes from a second vision model, CLIP gives the values.

    With ``f`` the guide's patch features (``context.guide``, (B, C, I, J)) L2-normalised per patch and
    flattened row-major to (B, C, M), ``S = f^T f`` (M x M cosine similarities, fp32), ``mu`` the mean of all
    its entries (diagonal included):

        ``A = softmax((S - β mu) γ)`` over each row, entries below 0 at -inf (a pair is kept iff ``S >= β mu``),

    one map for every head (β = ``proxy_beta``, γ = ``proxy_gamma`` of the last block). It applies to the
    block's values without the class row, resized bilinearly (``align_corners=False``) from CLIP's patch grid
    to the guide's ``I x J`` (:meth:`values`); the output has ``M`` rows on the guide's grid and no class row.
    A threshold ``β mu`` above a row's largest similarity (a window of near-uniform content with a large β)
    would mask the whole row: that is a :class:`ProxyMaskError`, not a NaN.
    """

    def check(self, block):
        if block.residual or block.ffn or block.fuse_blocks:
            raise SettingError("attention='proxy': the proxy attention replaces the whole last block (its output "
                               "lies on the guide's grid): set residual=False, ffn=False, fuse_blocks=()")

    @staticmethod
    def scores(guide: Tensor, beta: float, gamma: float) -> Tensor:
        """``(S - β mu) γ`` with the entries below 0 at -inf, (B, 1, M, M), fp32 (the literal steps)."""
        f = F.normalize(guide.float().flatten(2), dim=1, eps=1e-12)  # (B, C, M)
        similarity = f.transpose(1, 2) @ f
        threshold = beta * similarity.mean(dim=(-2, -1), keepdim=True)
        if (similarity.amax(-1, keepdim=True) < threshold).any():
            worst = (threshold / similarity.amax(-1, keepdim=True)).max().item()
            raise ProxyMaskError(f"beta={beta}: the proxy mask beta*mean(S) masks every patch of a row (a window of "
                                 f"near-uniform content; the threshold is {worst:.3f} times that row's largest "
                                 "similarity); use a smaller beta")
        scores = (similarity - threshold) * gamma
        return scores.masked_fill(scores < 0, float("-inf"))[:, None]

    def attention_map(self, q, k, context):
        return self.scores(context.guide, context.block.proxy_beta, context.block.proxy_gamma).softmax(-1)

    def attend(self, q, k, v, context):  # softmax(scores) v with a zero query: the scores are the mask alone
        scores = self.scores(context.guide, context.block.proxy_beta, context.block.proxy_gamma)
        return F.scaled_dot_product_attention(torch.zeros_like(v), v, v, attn_mask=scores.to(v.dtype))

    def values(self, v, context):
        b, heads, _, head_dim = v.shape
        grid_h, grid_w = context.grid
        patches = v[:, :, 1:].transpose(2, 3).reshape(b, heads * head_dim, grid_h, grid_w)
        patches = F.interpolate(patches, size=context.guide.shape[-2:], mode="bilinear", align_corners=False)
        return patches.reshape(b, heads, head_dim, -1).transpose(2, 3)
