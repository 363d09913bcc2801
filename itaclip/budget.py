"""The memory-budget policy, in one place: how much a forward pass, a full-size tile and an image may take.

* A forward pass (all windows x views of an image, split into passes,
  :func:`images_per_pass`): ``memory_budget_mb`` when given,
  else half the free CUDA memory, or 64 MiB on a CPU, where passes whose
  activations stay near the caches run fastest (225 tiny-model crops: 2.4 s
  in chunks of 4-8 images, 4.3 s in one chunk).
* A tile of the full-size stages (:mod:`itaclip.tiles`): ``tile_budget_mb``
  when given, else a quarter of the free memory, at most 4 GiB on a CPU (the
  command then segments a 48-megapixel photo with 171 classes in 7.1 GB; a
  1 GiB budget made a 12-megapixel one a third slower, PAMR's 160-pixel halo
  weighing more on small tiles).
* PAMR's channels on a CPU run in cache-sized chunks (80 channels of 375x500:
  1.2 s at once, 0.39 s in chunks of 4-16).
* An image's own full-size arrays on the way through the API and the command
  (decoded RGB, its BGR copy, the labels, the palette mask, the overlay drawn in
  row bands): :data:`IMAGE_BYTES_PER_PIXEL`, measured.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MIB = 2**20
CPU_PASS_BUDGET_MB = 64
CPU_TILE_BUDGET_MB = 4096
PAMR_CPU_BYTES = 8 * MIB
IMAGE_BYTES_PER_PIXEL = 40


def available_bytes(device: "torch.device") -> int | None:
    """Free memory of ``device``: CUDA's free memory, or the system's available memory on a CPU (None if
    unknown)."""
    if device.type == "cuda":
        import torch

        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().available


def pass_bytes(device: "torch.device", memory_budget_mb: float | None = None) -> int:
    """Bytes one forward pass may use."""
    if memory_budget_mb is not None:
        return int(memory_budget_mb * MIB)
    if device.type == "cuda":
        return available_bytes(device) // 2
    return CPU_PASS_BUDGET_MB * MIB


def tile_bytes(device: "torch.device", tile_budget_mb: float | None = None) -> int:
    """Bytes one tile of the full-size stages may use."""
    if tile_budget_mb is not None:
        return int(tile_budget_mb * MIB)
    free = available_bytes(device)
    if device.type == "cuda":
        return free // 4
    return min(CPU_TILE_BUDGET_MB * MIB, (free or 2**32) // 4)


def pamr_chunk_bytes(device: "torch.device") -> int | None:
    """Bytes of mask channels PAMR refines together: cache-sized on a CPU, all at once on a GPU (None)."""
    return None if device.type == "cuda" else PAMR_CPU_BYTES


def working_pixels(per_pixel: int, tile: int, free: int) -> int:
    """The most pixels an image may have to fit ``free`` bytes at ``per_pixel`` bytes each plus one ``tile``
    (with a tenth kept spare), rounded down to two significant digits (123456789 -> 120000000)."""
    number = max(1, (int(0.9 * free) - tile) // per_pixel)
    drop = max(0, len(str(number)) - 2)
    return number // 10**drop * 10**drop


def tower_bytes(tokens: int, width: int, heads: int, element_size: int) -> int:
    """A rough upper bound on the memory one image takes in a ViT block of ``tokens`` tokens: the residual
    stream, q/k/v, the MLP's hidden layer and the q/k kept for the last block (about 16 token-width
    tensors), plus one attention matrix per head if the attention kernel materialises it; doubled for slack."""
    return 2 * element_size * (16 * tokens * width + 2 * heads * tokens * tokens)


def images_per_pass(per_image_bytes: int, budget_bytes: int) -> int:
    """How many images of ``per_image_bytes`` each (an encoder's
    :meth:`~itaclip.backbone.DenseEncoder.pass_bytes`) one forward pass may take within ``budget_bytes``."""
    return max(1, budget_bytes // per_image_bytes)
