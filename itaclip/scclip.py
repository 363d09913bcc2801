"""SC-CLIP's ending of the vision tower (Bai et al., IEEE TIP 2025): anomaly tokens repaired, similarity-guided
aggregation, a replaced last block run twice.

For one crop with patch tokens ``X = P(B_{L-1})`` (N x D, the class row
dropped; ``B_l`` the output of block l, list index ``i`` = block ``i+1``):

1. **Anomaly tokens** (:func:`lof_scores`, :func:`outliers`): squared
   distances ``Δ_ij = ||X_i - X_j||^2``; per token its k = 30 nearest others
   ``δ_1 <= ... <= δ_k``; ``lrd_i = k / mean_m max(δ_m, δ_k)`` (the token's
   *own* k-th distance: not textbook LOF); ``score_i = mean_m lrd_{j_m} /
   lrd_i``; outliers are the tokens scoring strictly above the 0.95
   quantile (linear interpolation).
2. **Repair** (:func:`repair`): each outlier cell takes the mean of its valid
   (in the grid, not outlier) 3 x 3 neighbours, from their original values;
   one without any keeps its value.
3. **Similarities** (:func:`similarity`): ``M = S_pre``, the cosine similarity
   of block ``pre_adjust_idx+1``'s tokens repaired with the same cells;
   ``A_pre`` and ``A_post`` (block ``post_adjust_idx+1``, not repaired) with
   entries below β = 0.4 set to 0; ``Agg(Y, A) = (A / (rowsum A + 1e-6)) Y``
   (:func:`aggregate`).
4. **Last block, replaced**, run twice with the same ``M`` and ``A_post``:
   ``Attn(U) = out_proj(A v)`` with the ``"scclip"`` kernel of
   :mod:`itaclip.kernels`, ``A_h = (softmax(M~) + softmax(k_h k_h^T s)) / 2``,
   ``M~ = 3 (M - mean M)`` with negative entries at -inf (``M`` handed to it
   as ``context.guide``); no residual, no feed-forward.
   ``Y1 = Agg(Attn(ln_1(Agg(repair(X), A_pre))) + ρ c, A_post)`` (``c`` the
   class row of ``B_{L-1}``) and ``Y2 = Agg(Attn(ln_1(P(R))) + ρ R[0], A_post)``
   with ``R`` the sum of blocks ``multi_start_idx+1 .. multi_end_idx``;
   the output is ``ln_post(Y1 + Y2) @ proj``.

Everything runs on a batch of crops at once (every window and view of an
image). Patch tokens are row-major: token ``n`` is cell ``(n // gw, n % gw)``.
The authors' code maps it to ``(n // gh, n % gh)``, the same cell on the
square grids of its protocol (224-pixel windows) and another cell, or an
index error, on a non-square grid (a whole image, a window under 224 px):
there this code repairs the true cells, the one deliberate difference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import DenseEncoder, ForwardState, LastBlock
from .settings import FRACTION, WHOLE, WHOLE_POSITIVE, SettingError, Validated, setting

NEIGHBOURS = 30  # the LOF's k
CONTAMINATION = 0.05  # outliers: above the 1 - 0.05 quantile of the scores
THRESHOLD = 0.4  # β: similarities below it do not aggregate


@dataclass(frozen=True)
class SCCLIPEnding(Validated):
    """SC-CLIP's keys (list indices of block outputs: index ``i`` is block ``i+1``) and the class-token weight."""

    pre_adjust_idx: int = setting(8, WHOLE, "the block (index) whose repaired tokens give M and A_pre")
    post_adjust_idx: int = setting(3, WHOLE, "the block (index) whose tokens give A_post")
    multi_start_idx: int = setting(3, WHOLE, "first block (index) summed for the second pass")
    multi_end_idx: int = setting(10, WHOLE_POSITIVE, "end (exclusive) of the blocks summed for the second pass")
    res_cls: float = setting(0.3, FRACTION, "ρ: weight of the class token added after the last block")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.multi_start_idx >= self.multi_end_idx:
            raise SettingError(f"multi_start_idx={self.multi_start_idx}, multi_end_idx={self.multi_end_idx}: the "
                               "blocks summed are multi_start_idx .. multi_end_idx - 1; make the end larger")

    def check_depth(self, blocks: int) -> None:
        """Refuse indices past the blocks before the last (a model of ``blocks`` blocks has indices 0 .. blocks-2)."""
        for key in ("pre_adjust_idx", "post_adjust_idx", "multi_start_idx"):
            if getattr(self, key) > blocks - 2:
                raise SettingError(f"{key}={getattr(self, key)}: {key} must be at most {blocks - 2} for a vision "
                                   f"tower of {blocks} blocks (index i is block i+1, the last block excluded)")
        if self.multi_end_idx > blocks - 1:
            raise SettingError(f"multi_end_idx={self.multi_end_idx}: multi_end_idx must be at most {blocks - 1} for "
                               f"a vision tower of {blocks} blocks")


def squared_distances(x: Tensor) -> Tensor:
    """``Δ_ij = ||x_i - x_j||^2`` of (B, N, D) tokens, (B, N, N), from the differences themselves (no Gram-matrix
    shortcut, whose rounding would reorder near-equal distances)."""
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist").square()


def lof_scores(x: Tensor, neighbours: int = NEIGHBOURS) -> Tensor:
    """SC-CLIP's outlier scores of (B, N, D) tokens, (B, N) (module docstring, step 1).

    With fewer than ``neighbours + 1`` tokens every other token is a neighbour.
    """
    distances = squared_distances(x)
    k = min(neighbours, x.shape[1] - 1)
    if k < 1:
        return torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    near, index = distances.topk(k + 1, dim=-1, largest=False)  # ascending, the token itself first
    near, index = near[..., 1:], index[..., 1:]
    reach = torch.maximum(near, near[..., -1:])  # the token's own k-th distance: all equal to it
    lrd = k / torch.nan_to_num(reach.mean(-1), nan=1e-6)
    return (lrd.gather(1, index.flatten(1)).view_as(index) / lrd[..., None]).mean(-1)


def outliers(scores: Tensor) -> Tensor:
    """Tokens scoring strictly above the 1 - 0.05 quantile of their crop's scores, (B, N) bool."""
    threshold = torch.quantile(scores.float(), 1 - CONTAMINATION, dim=-1, keepdim=True)
    return scores.float() > threshold


def repair(tokens: Tensor, mask: Tensor, grid: tuple[int, int]) -> Tensor:
    """Each outlier token (``mask``, (B, N)) replaced by the mean of its valid 3 x 3 neighbours on the row-major
    ``grid``, from their original values; an outlier without valid neighbours and every other token unchanged.

    ``tokens`` (B, N, D). The sums are a ring convolution (zero padding) of the masked map.
    """
    b, n, d = tokens.shape
    valid = (~mask).to(tokens.dtype).view(b, 1, *grid)
    cells = (tokens.transpose(1, 2).reshape(b, d, *grid)) * valid
    ring = torch.ones(3, 3, dtype=tokens.dtype, device=tokens.device)
    ring[1, 1] = 0
    sums = F.conv2d(cells.reshape(b * d, 1, *grid), ring[None, None], padding=1).view(b, d, n)
    counts = F.conv2d(valid, ring[None, None], padding=1).view(b, 1, n)
    means = (sums / counts.clamp(min=1)).transpose(1, 2)
    use = mask[..., None] & (counts.transpose(1, 2) > 0)
    return torch.where(use, means, tokens)


def similarity(tokens: Tensor) -> Tensor:
    """Cosine similarity of (B, N, D) tokens, (B, N, N)."""
    unit = F.normalize(tokens, dim=-1)
    return unit @ unit.transpose(1, 2)


def thresholded(similarities: Tensor, threshold: float = THRESHOLD) -> Tensor:
    """Entries strictly below ``threshold`` set to 0."""
    return similarities.masked_fill(similarities < threshold, 0)


def aggregate(tokens: Tensor, weights: Tensor) -> Tensor:
    """``Agg(Y, A) = (A / (rowsum(A) + 1e-6)) Y``: (B, N, N) weights on (B, N, D) tokens."""
    return (weights / (weights.sum(-1, keepdim=True) + 1e-6)) @ tokens


SCCLIP_BLOCK = LastBlock(attention="scclip", residual=False, ffn=False, fuse_blocks=())


class SCCLIPEncoder(DenseEncoder):
    """The vision forward with SC-CLIP's ending (module docstring); its hooks keep the block outputs it needs.

    The output keeps the pipeline's shape (B, 1 + N, E): its first row is the
    class token of block L-1 through ``ln_post`` and ``proj`` (SC-CLIP itself
    outputs patches only, and no step reads that row).
    """

    def __init__(self, ending: SCCLIPEnding, block: LastBlock = SCCLIP_BLOCK):
        super().__init__(block)
        self.ending = ending

    def between_blocks(self, index: int, x: Tensor, state: ForwardState) -> Tensor:
        ending, kept = self.ending, state.extra
        if index == ending.pre_adjust_idx + 1:
            kept["pre"] = x
        if index == ending.post_adjust_idx + 1:
            kept["post"] = x
        if ending.multi_start_idx + 1 <= index <= ending.multi_end_idx:
            kept["sum"] = x if "sum" not in kept else kept["sum"] + x
        return x

    def last_block(self, block: nn.Module, x: Tensor, state: ForwardState, fused: bool = True) -> Tensor:
        kept, rho = state.extra, self.ending.res_cls
        patches = x[:, 1:]
        mask = outliers(lof_scores(patches))
        state.extra["outliers"] = mask
        guide = similarity(repair(kept["pre"][:, 1:], mask, state.grid))
        state.extra["similarity"] = guide
        state.guide = guide
        after = thresholded(similarity(kept["post"][:, 1:]))
        first = self.attention_output(block, aggregate(repair(patches, mask, state.grid), thresholded(guide)),
                                      state, fused)
        first = aggregate(first + rho * x[:, :1], after)
        total = kept["sum"]
        second = aggregate(self.attention_output(block, total[:, 1:], state, fused) + rho * total[:, :1], after)
        return torch.cat([x[:, :1], first + second], dim=1)
