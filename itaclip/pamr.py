"""PAMR, pixel-adaptive mask refinement (paper section 5).

For every dilation ``d`` each pixel has 8 neighbours at ``d*(+-1|0, +-1|0)``
(replicate padding). The affinity to a neighbour is
``-|I_c(p) - I_c(n)| / (1e-8 + 0.1*sigma_c(p))`` averaged over channels and
softmaxed over all neighbours of all dilations; ``sigma_c(p)`` is the
unbiased std of channel ``c`` over the 9 positions of every dilation (the
centre counted once per dilation). Each step replaces the mask by the
affinity-weighted sum of its neighbours.

The affinities depend only on the image, so they are computed once; each
step is then a few shifted slices of one padded tensor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def offsets(dilations) -> list[tuple[int, int]]:
    """All neighbour offsets (dy, dx), dilation-major."""
    return [(dy * d, dx * d) for d in dilations for dy, dx in NEIGHBOURS]


def _shifted(x: Tensor, shifts: list[tuple[int, int]]):
    """Views of (..., H, W) ``x`` moved by each offset, replicate-padded: one pad, many slices."""
    pad = max(max(abs(dy), abs(dx)) for dy, dx in shifts)
    height, width = x.shape[-2:]
    padded = F.pad(x, [pad] * 4, mode="replicate")
    for dy, dx in shifts:
        yield padded[..., pad + dy:pad + dy + height, pad + dx:pad + dx + width]


def affinity(image: Tensor, dilations=(8, 16)) -> Tensor:
    """Softmaxed neighbour weights of a (B, C, H, W) guide image, (B, P, H, W)."""
    shifts = offsets(dilations)
    neighbours = torch.stack(list(_shifted(image, shifts)), dim=2)  # (B, C, P, H, W)
    centre = image.unsqueeze(2)
    per_dilation = neighbours.split(len(NEIGHBOURS), dim=2)
    samples = torch.cat([torch.cat([centre, n], dim=2) for n in per_dilation], dim=2)
    sigma = samples.std(dim=2, keepdim=True)
    weights = -(neighbours - centre).abs() / (1e-8 + 0.1 * sigma)
    return weights.mean(1).softmax(1)


def refine(image: Tensor, mask: Tensor, steps: int = 10, dilations=(8, 16),
           channels_per_chunk: int | None = None) -> Tensor:
    """Run ``steps`` PAMR iterations on ``mask`` (B, Q, H, W) guided by ``image`` (B, C, H, W).

    Channels are independent given the affinities, so they may run in chunks
    of ``channels_per_chunk`` through all steps: on a CPU, chunks that stay in
    cache run several times faster (``None``: all at once, best on a GPU).
    """
    if steps <= 0:
        return mask
    weights = affinity(image.to(mask.dtype), dilations)
    chunk = channels_per_chunk or mask.shape[1]
    return torch.cat([_iterate(weights, mask[:, i:i + chunk], steps, dilations)
                      for i in range(0, mask.shape[1], chunk)], dim=1)


def _iterate(weights: Tensor, mask: Tensor, steps: int, dilations) -> Tensor:
    shifts = offsets(dilations)
    for _ in range(steps):
        out = torch.zeros_like(mask)
        for n, neighbour in enumerate(_shifted(mask, shifts)):
            out.addcmul_(weights[:, n:n + 1], neighbour)
        mask = out
    return mask
