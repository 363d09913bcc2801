"""Post-processing (paper section 5): query logits -> class probabilities -> label map.

1. ``softmax(logit_scale * logits)`` over queries;
2. a class's probability is the max over its queries;
3. ``area_thd``: a class (other than 0) whose argmax area is not greater than
   ``area_thd`` times all non-zero-class pixels gets probability 0;
4. argmax, with pixels whose max probability is below ``prob_thd`` set to 0;
5. morphological closing, 3x3 rectangle.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor


def class_probabilities(logits: Tensor, query_idx: Tensor, num_classes: int, logit_scale: float) -> Tensor:
    """(Q, H, W) query logits -> (C, H, W) class probabilities (steps 1-2)."""
    probs = (logit_scale * logits.float()).softmax(0)
    if num_classes == probs.shape[0]:
        return probs
    flat = probs.flatten(1)
    out = flat.new_zeros(num_classes, flat.shape[1])  # probabilities are >= 0, so 0 is a neutral start
    out.scatter_reduce_(0, query_idx[:, None].expand_as(flat), flat, "amax")
    return out.view((num_classes,) + probs.shape[1:])


def kept_classes(areas: Tensor, area_thd: float) -> Tensor:
    """Step 3's rule on per-class argmax areas (C,): which classes keep their probabilities (class 0 always)."""
    keep = torch.ones_like(areas, dtype=torch.bool)
    keep[1:] = areas[1:] > area_thd * areas[1:].sum()
    return keep


def drop_small_classes(probs: Tensor, area_thd: float | None) -> Tensor:
    """Step 3: zero the probabilities of classes 1.. whose argmax area is too small (in place)."""
    if area_thd is None:
        return probs
    areas = torch.bincount(probs.argmax(0).flatten(), minlength=probs.shape[0])
    probs *= kept_classes(areas, area_thd).to(probs.dtype)[:, None, None]
    return probs


def label_map(probs: Tensor, prob_thd: float = 0.0) -> Tensor:
    """Step 4: (C, H, W) -> (H, W) labels, 0 where the top probability is below ``prob_thd``."""
    labels = probs.argmax(0)
    labels[probs.amax(0) < prob_thd] = 0
    return labels


def close(labels: Tensor) -> Tensor:
    """Step 5: OpenCV ``MORPH_CLOSE`` with a 3x3 rectangle; uint8 like the paper (int64 past 255 classes)."""
    small = int(labels.max()) < 256
    closed = cv2.morphologyEx(labels.cpu().numpy().astype(np.uint8 if small else np.uint16),
                              cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return torch.from_numpy(closed if small else closed.astype(np.int64)).to(labels.device)


def postprocess(logits: Tensor, query_idx: Tensor, num_classes: int, logit_scale: float,
                prob_thd: float = 0.0, area_thd: float | None = None, closing: bool = True,
                renormalise: bool = False) -> tuple[Tensor, Tensor]:
    """(Q, H, W) logits -> ``(seg_logits (C, H, W), pred_sem_seg (1, H, W))``, the whole image at once.

    The paper's steps in its order, as the sequential path runs them; the
    batched path runs the same steps in tiles (:mod:`itaclip.tiles`).

    ``closing`` is step 5 (ITACLIP's; without it the labels stay int64);
    ``renormalise`` divides the stored probabilities by their sum per pixel
    after the labels are taken (NACLIP's).
    """
    probs = drop_small_classes(class_probabilities(logits, query_idx, num_classes, logit_scale), area_thd)
    labels = label_map(probs, prob_thd)
    if renormalise:
        probs = probs / probs.sum(0, keepdim=True)
    return probs, (close(labels) if closing else labels)[None]
