"""Image engineering (paper section 4): five views of each crop, and how they combine.

Views, on the normalised tensor: 1. the crop, 2. grayscale, 3. Gaussian blur
(kernel 11, sigma 5, reflect padding), 4. vertical flip, 5. horizontal flip.
Views 1-3 average their (normalised) patch features; views 4-5 are flipped
back and averaged; the two groups mix as ``lam*first + (1-lam)*flipped``
(``lam`` = ``img_eng_coefficient``).

Bilinear upsampling is linear and commutes with flips, so the whole mix can
be done on patch-grid logits, before the one upsampling to crop size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import Tensor

NUM_VIEWS = 5
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0
_FLIP_DIMS = (-2, -1)  # view 4 flips rows (vertical), view 5 flips columns (horizontal)


def grayscale(images: Tensor) -> Tensor:
    """``0.2989 R + 0.587 G + 0.114 B``, repeated to three channels."""
    return TF.rgb_to_grayscale(images, num_output_channels=3)


def gaussian_kernel(size: int = BLUR_KERNEL, sigma: float = BLUR_SIGMA, dtype=torch.float32,
                    device=None) -> Tensor:
    """torchvision's 1-D Gaussian: ``exp(-x^2 / 2 sigma^2)`` on ``-size//2..size//2``, summing to 1."""
    x = torch.linspace(-(size // 2), size // 2, size, dtype=dtype, device=device)
    pdf = torch.exp(-0.5 * (x / sigma) ** 2)
    return pdf / pdf.sum()


def blur(images: Tensor) -> Tensor:
    """Gaussian blur, kernel 11, sigma 5, reflect padding, as torchvision's.

    torchvision convolves with the 11x11 outer product of the 1-D kernel; the
    same blur is two 1-D passes, five times fewer multiplications.
    """
    channels, pad = images.shape[1], BLUR_KERNEL // 2
    k = gaussian_kernel(dtype=images.dtype, device=images.device)
    x = F.pad(images, [pad, pad, pad, pad], mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def make_views(crops: Tensor) -> Tensor:
    """(N, 3, h, w) crops -> (5, N, 3, h, w) views, in the paper's order."""
    views = [crops, grayscale(crops), blur(crops)] + [crops.flip(d) for d in _FLIP_DIMS]
    return torch.stack(views)


def combine_views(logits: Tensor, lam: float) -> Tensor:
    """Mix per-view logits (5, N, Q, h, w) into (N, Q, h, w), flipping views 4-5 back.

    Averaging the first three views' normalised features and then taking
    logits equals averaging their logits, since logits are linear in features.
    """
    first = logits[:3].mean(0)
    flipped = sum(logits[3 + i].flip(d) for i, d in enumerate(_FLIP_DIMS)) / len(_FLIP_DIMS)
    return lam * first + (1 - lam) * flipped
