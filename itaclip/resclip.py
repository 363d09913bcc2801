"""ResCLIP's last block (Yang et al., CVPR 2025): RCS and SFR over a base method's attention.

Per head, with the base method's attention logits ``Z`` (``"kk+gaussian"``:
``k k^T s`` plus NACLIP's bias ``G``; ``"qq+kk"``, ``"qq"``, ``"qk"``: SCLIP's,
ClearCLIP's, CLIP's):

* **RCS** (residual cross-correlation self-attention): the maps of blocks
  6-9, ``R = mean_b softmax(q_b k_b^T s)`` per head (class token included),
  mixed into the last block's probabilities:
  ``A = τ_r ((1 - λ_r) P + λ_r R)`` (rows sum to τ_r);
* **SFR** (semantic feedback refinement): a first pass of the last block
  (RCS, no SFR) is turned into a full prediction of the crop (cosine logits
  at crop size, a fixed 10-step PAMR guided by the crop, a softmax at
  ``logit_scale``), pixel labels (query indices; below ``temp_thd``: 0),
  patch labels (the most frequent pixel label, the smallest on ties), and a
  same-label matrix ``E`` (:func:`sfr_matrix`: a path test with distance
  decay, a 1-D blur along the flattened patch index, rows normalised); the
  second pass mixes it into the logits,
  ``P = softmax(τ_s ((1 - λ_s) Z + fp16(λ_s fp16(S / max S))) [+ G])``.

The literal maps and the fused scaled-dot-product form are both here
(``fused``); the sequential path uses the former.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import budget, pamr
from .backbone import DenseEncoder, ForwardState, LastBlock, patch_grid, qkv
from .kernels import neighbourhood_bias
from .settings import FLAG, FRACTION, Rule, SettingError, Validated, setting
from .slide import patch_logits

FIRST_PASS_PAMR = (10, (8, 16))  # steps and dilations of the first pass's PAMR, fixed by the method
RCS_BLOCKS = (6, 7, 8, 9)  # 1-based blocks whose attention maps RCS averages (the authors' 0-based 5-8)
STRATEGIES = ("kk+gaussian", "qq+kk", "qq", "qk")  # the base attentions RCS and SFR run on
PAIR = Rule("a pair of numbers [τ, λ], τ above 0, λ from 0 to 1", lambda v: isinstance(v, tuple) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and v[0] > 0
            and 0 <= v[1] <= 1)


@dataclass(frozen=True)
class ResCLIPOptions(Validated):
    """ResCLIP's own settings: the two modules' switches and weights, the first pass's threshold and the path
    test (``delete_same_entity``)."""

    use_rcs: bool = setting(True, FLAG, "RCS: the maps of blocks 6-9 mixed into the last block's attention")
    use_sfr: bool = setting(True, FLAG, "SFR: a first pass's labels fed back into a second pass")
    attn_rcs_weights: tuple = setting((2.0, 0.3), PAIR, "[τ_r, λ_r] of the RCS mixing")
    attn_sfr_weights: tuple = setting((2.0, 0.7), PAIR, "[τ_s, λ_s] of the SFR mixing")
    temp_thd: float = setting(0.5, FRACTION, "first-pass probabilities below it label a pixel 0")
    delete_same_entity: bool = setting(False, FLAG, "the path test and distance decay of the SFR matrix")


def patch_labels(labels: Tensor, grid: tuple[int, int], patch: tuple[int, int], count: int) -> Tensor:
    """Each patch's most frequent pixel label, the smallest on ties: (B, H, W) labels in 0..count-1 -> (B, gh, gw).

    Only the first ``gh * ph`` rows and ``gw * pw`` columns count. Explicit counts, so every device agrees.
    """
    (gh, gw), (ph, pw) = grid, patch
    b = labels.shape[0]
    cells = labels[:, :gh * ph, :gw * pw].reshape(b, gh, ph, gw, pw).permute(0, 1, 3, 2, 4).reshape(b, gh, gw, -1)
    counts = torch.zeros(b, gh, gw, count, dtype=torch.int64, device=labels.device)
    counts.scatter_add_(-1, cells, torch.ones_like(cells))
    return counts.argmax(-1)  # the first (smallest) label of the largest count


def path_kept(labels: Tensor, grid: tuple[int, int]) -> tuple[Tensor, Tensor, int]:
    """The path test of one crop's patch labels (N,): ``(passes (N, N) bool, chebyshev (N, N), D)``.

    Pair (m, n) passes when the label at each point ``k <= d(m, n)`` of the segment from m towards n,
    parametrised by ``t_k = linspace(0, 1, D + 1)`` (D the grid's largest distance) and rounded half to even
    in fp32, is m's.
    """
    gh, gw = grid
    device = labels.device
    rows = torch.arange(gh, device=device).repeat_interleave(gw).float()
    cols = torch.arange(gw, device=device).repeat(gh).float()
    chebyshev = torch.maximum((rows[:, None] - rows[None]).abs(), (cols[:, None] - cols[None]).abs()).long()
    far = max(gh, gw) - 1
    t = torch.linspace(0, 1, far + 1, device=device)
    passes = torch.ones(len(labels), len(labels), dtype=torch.bool, device=device)
    for k in range(far + 1):  # one point of every segment at a time: N x N memory, not N x N x D
        r = torch.round(rows[:, None] * (1 - t[k]) + rows[None] * t[k]).long()
        c = torch.round(cols[:, None] * (1 - t[k]) + cols[None] * t[k]).long()
        same = labels[r * gw + c] == labels[:, None]
        passes &= same | (chebyshev < k)
    return passes, chebyshev, far


def sfr_matrix(labels: Tensor, grid: tuple[int, int], std: float, path_test: bool) -> Tensor:
    """The SFR matrix of one crop's patch labels (N,), (N, N) (without the class token's zero row and column).

    ``E[m, n] = [L_m == L_n]``, decayed by ``exp(-d / D)`` where the path test fails (``path_test``), blurred
    along the flattened patch index by a Gaussian of ``std`` (zero padding at the two ends only), rows
    normalised.
    """
    n = len(labels)
    same = (labels[:, None] == labels[None]).float()
    if path_test:
        passes, chebyshev, far = path_kept(labels, grid)
        decay = torch.exp(-(chebyshev.float() / max(far, 1)))
        same = torch.where(passes, same, same * decay)
    size = min(n, int(6 * std + 1))
    size += 1 - size % 2
    taps = torch.arange(size, device=labels.device, dtype=torch.float32) - size // 2
    weights = torch.exp(-(taps ** 2) / (2 * std ** 2))
    weights = weights / weights.sum()
    blurred = F.conv1d(same[:, None], weights.view(1, 1, -1), padding=size // 2)[:, 0].clamp(min=0)
    return blurred / (blurred.sum(-1, keepdim=True) + 1e-8)


def sfr_term(matrix: Tensor, weight: float) -> Tensor:
    """``fp16(λ_s · fp16(S / max S))`` as fp32, for (B, T, T) SFR matrices (their class rows and columns 0)."""
    top = matrix.flatten(1).amax(-1)[:, None, None]
    return ((matrix / top).half().float() * torch.tensor(weight, dtype=torch.float32)).half().float()


def _terms(attention: str, q: Tensor, k: Tensor) -> list[tuple[Tensor, Tensor]]:
    """The (a, b) of each softmax term ``softmax(a b^T s ...)`` of a base attention."""
    return {"kk+gaussian": [(k, k)], "qq+kk": [(q, q), (k, k)], "qq": [(q, q)], "qk": [(q, k)]}[attention]


def base_attention(attention: str, q: Tensor, k: Tensor, v: Tensor, scale: float, mask: Tensor | None,
                   fused: bool) -> Tensor:
    """``P v`` with ``P = Σ_terms softmax(scale · (a b^T s) + mask)`` (the SFR-mixed base attention)."""
    s = q.shape[-1] ** -0.5
    out = None
    for a, b in _terms(attention, q, k):
        if fused:
            part = F.scaled_dot_product_attention(a, b, v, attn_mask=None if mask is None else mask.to(v.dtype),
                                                  scale=scale * s)
        else:
            logits = (a @ b.transpose(-2, -1)) * s if attention != "qk" else (s * a) @ b.transpose(-2, -1)
            logits = scale * logits
            part = (logits if mask is None else logits + mask).softmax(-1) @ v
        out = part if out is None else out + part
    return out


def rcs_attention(kept: list[tuple[Tensor, Tensor]], v: Tensor, fused: bool) -> Tensor:
    """``R v`` with ``R = mean_b softmax((s q_b) k_b^T)`` over the kept blocks, per head."""
    if fused:
        parts = [F.scaled_dot_product_attention(q, k, v) for q, k in kept]
    else:
        parts = [((q.shape[-1] ** -0.5 * q) @ k.transpose(-2, -1)).softmax(-1) @ v for q, k in kept]
    return sum(parts) / len(parts)


class ResCLIPEncoder(DenseEncoder):
    """The vision forward with ResCLIP's last block, run once (no SFR) or twice (a first pass's labels fed back).

    The first pass needs the text side: :attr:`query_features` and :attr:`logit_scale` are kept current by the
    segmentor. RCS reads the (q, k) kept from ``block.fuse_blocks`` (blocks 6-9, or none when RCS is off).
    """

    def __init__(self, options: ResCLIPOptions, block: LastBlock, logit_scale: float):
        super().__init__(block)
        self.options, self.logit_scale = options, logit_scale
        self.query_features: Tensor | None = None

    def mixed_output(self, block: nn.Module, x: Tensor, state: ForwardState, sfr: Tensor | None,
                     fused: bool) -> Tensor:
        """The last block on ``x`` with the base attention, SFR-mixed when ``sfr`` (B, T, T) is given, and RCS."""
        q, k, v = qkv(block, x)
        scale, mask = 1.0, None
        if sfr is not None:
            tau, lam = self.options.attn_sfr_weights
            scale, mask = tau * (1 - lam), (tau * sfr)[:, None]
        if self.block.attention == "kk+gaussian":
            bias = neighbourhood_bias(*state.grid, self.block.gaussian_std, x.device)
            mask = bias if mask is None else mask + bias
        out = base_attention(self.block.attention, q, k, v, scale, mask, fused)
        if state.kept:  # RCS
            tau, lam = self.options.attn_rcs_weights
            out = tau * ((1 - lam) * out + lam * rcs_attention(state.kept, v, fused))
        b, t, width = x.shape
        out = block.ls_1(block.attn.out_proj(out.transpose(1, 2).reshape(b, t, width)))
        x = x + out if self.block.residual else out
        if self.block.ffn:
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return x

    def feedback(self, dense: Tensor, state: ForwardState, visual: nn.Module) -> Tensor:
        """The SFR matrices (B, T, T) of a first pass's dense output (B, T, E)."""
        if self.query_features is None:
            raise RuntimeError("ResCLIP's first pass needs the class texts: build it through its segmentor")
        settings, images = self.options, state.images
        gh, gw = state.grid
        patch = visual.conv1.kernel_size
        logits = patch_logits(images, self.query_features, lambda _: visual.ln_post(dense) @ visual.proj,
                              patch_grid(visual, *images.shape[-2:]))
        # contiguous: the resize keeps the transposed layout, which makes PAMR's shifted slices three times slower
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False).contiguous()
        steps, dilations = FIRST_PASS_PAMR
        chunk = budget.pamr_chunk_bytes(logits.device)  # cache-sized channel chunks of one crop on a CPU
        chunk = None if chunk is None else max(1, chunk // (4 * logits[0, 0].numel()))
        logits = torch.cat([pamr.refine(image[None].float(), crop[None], steps, dilations, chunk)
                            for image, crop in zip(images, logits)])  # crop by crop: a crop's maps stay in cache
        probs = (self.logit_scale * logits).softmax(1)
        top, labels = probs.max(1)
        labels = labels.masked_fill(top < settings.temp_thd, 0)
        patches = patch_labels(labels, (gh, gw), patch, probs.shape[1]).flatten(1)
        t = 1 + gh * gw
        out = dense.new_zeros(len(dense), t, t, dtype=torch.float32)
        for i, crop in enumerate(patches):  # each crop its own matrix (N x N memory per crop)
            out[i, 1:, 1:] = sfr_matrix(crop, (gh, gw), self.block.gaussian_std, settings.delete_same_entity)
        state.extra.update(temp_probs=probs, patch_labels=patches.view(-1, gh, gw), attn_sfr=out)
        return sfr_term(out, settings.attn_sfr_weights[1])

    def last_block(self, block: nn.Module, x: Tensor, state: ForwardState, fused: bool = True) -> Tensor:
        first = self.mixed_output(block, x, state, None, fused)
        if not self.options.use_sfr:
            return first
        state.extra["first"] = first
        return self.mixed_output(block, x, state, self.feedback(first, state, state.visual), fused)


def check_strategy(attention: str, residual: bool) -> None:
    """The base attentions ResCLIP's modules run on; SCLIP's needs the residual kept, as its authors assert."""
    if attention not in STRATEGIES:
        raise SettingError(f"attention={attention!r}: ResCLIP runs on {', '.join(STRATEGIES)}")
    if attention == "qq+kk" and not residual:
        raise SettingError("attn_strategy='sclip': ResCLIP's 'sclip' needs arch='w_resi', as in its authors' code")
