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
    """Softmaxed neighbour weights of a (B, C, H, W) guide image, (B, P, H, W).

    Neighbour by neighbour, so that besides the P weights only a few
    image-sized tensors live at once (about 100 bytes a pixel in fp32, where
    stacking every neighbour would take eight times as much).
    """
    shifts = offsets(dilations)
    samples = len(shifts) + len(dilations)  # the centre once per dilation
    total = image * len(dilations)
    for neighbour in _shifted(image, shifts):
        total += neighbour
    mean = total / samples
    spread = (image - mean).square_() * len(dilations)
    for neighbour in _shifted(image, shifts):
        spread += (neighbour - mean).square_()
    scale = spread.div_(samples - 1).sqrt_().mul_(0.1).add_(1e-8)  # 1e-8 + 0.1 * unbiased std
    del total, mean
    weights = image.new_empty(image.shape[0], len(shifts), *image.shape[-2:])
    for n, neighbour in enumerate(_shifted(image, shifts)):
        weights[:, n] = (neighbour - image).abs_().div_(scale).mean(1).neg_()
    return weights.softmax(1)


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
    return torch.cat([propagate(weights, mask[:, i:i + chunk], steps, dilations)
                      for i in range(0, mask.shape[1], chunk)], dim=1)


def propagate(weights: Tensor, mask: Tensor, steps: int, dilations=(8, 16)) -> Tensor:
    """``steps`` PAMR iterations of ``mask`` (B, Q, H, W) with the :func:`affinity` ``weights`` (B, P, H, W)."""
    shifts = offsets(dilations)
    for _ in range(steps):
        out = torch.zeros_like(mask)
        for n, neighbour in enumerate(_shifted(mask, shifts)):
            out.addcmul_(weights[:, n:n + 1], neighbour)
        mask = out
    return mask
