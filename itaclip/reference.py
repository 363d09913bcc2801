"""The paper's order of computation, kept as a yardstick.

One forward pass per window and per view, explicit attention maps, each
view upsampled to crop size before mixing, each window padded to the full
image before it is added, and PAMR by dilated convolutions, as the paper's
code does. Any segmentor built with ``sequential=True`` runs it; benchmarks and tests compare the batched path
against it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .pamr import NEIGHBOURS
from .slide import patch_padding, window_grid
from .views import blur, grayscale


def _features(model, view: Tensor) -> Tensor:
    """Normalised dense features of one view (1, 3, h, w), with the method's encoder in its literal form."""
    return F.normalize(model.encoder(model.visual, view, fused=False).float(), dim=-1)


def _view_logits(model, view: Tensor, size) -> Tensor:
    """Logits of one view (1, 3, h, w), upsampled to ``size``."""
    return _upsample(model, _features(model, view), view, size)


def _upsample(model, feats: Tensor, view: Tensor, size) -> Tensor:
    grid_h, grid_w = model.encoder.output_grid(model.visual, *view.shape[-2:])
    patches = feats[:, model.encoder.first_patch_row:]
    logits = (patches @ model.query_features.float().T).transpose(1, 2).reshape(1, -1, grid_h, grid_w)
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def crop_logits(model, crop: Tensor, size=None) -> Tensor:
    """Section 4 for one crop (1, 3, h, w), view by view, each view upsampled to ``size`` (default: the crop's)."""
    size = size or crop.shape[-2:]
    if not model.protocol.img_engineering:
        return _view_logits(model, crop, size)
    feats = [_features(model, v) for v in (crop, grayscale(crop), blur(crop))]
    first = _upsample(model, torch.stack(feats).mean(0), crop, size)
    flipped = [_view_logits(model, crop.flip(d), size).flip(d) for d in (-2, -1)]
    lam = model.protocol.img_eng_coefficient
    return lam * first + (1 - lam) * (flipped[0] + flipped[1]) / 2


def pamr_conv(image: Tensor, mask: Tensor, steps: int, dilations) -> Tensor:
    """PAMR as the paper computes it: 3x3 dilated convolutions, one per dilation and step."""
    def kernels(centre: float, with_centre_row: bool) -> Tensor:
        k = torch.zeros(len(NEIGHBOURS) + with_centre_row, 1, 3, 3, dtype=image.dtype, device=image.device)
        for i, (dy, dx) in enumerate(NEIGHBOURS):
            k[i, 0, 1 + dy, 1 + dx] = 1.0
            k[i, 0, 1, 1] += centre
        if with_centre_row:
            k[-1, 0, 1, 1] = 1.0
        return k

    def local(x: Tensor, kernel: Tensor) -> Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b * c, 1, h, w)
        out = [F.conv2d(F.pad(flat, [d] * 4, mode="replicate"), kernel, dilation=d) for d in dilations]
        return torch.cat(out, 1).view(b, c, -1, h, w)

    diff = kernels(-1.0, False)  # neighbour - centre
    sigma = local(image, kernels(0.0, True)).std(2, keepdim=True)
    aff = (-local(image, diff).abs() / (1e-8 + 0.1 * sigma)).mean(1, keepdim=True).softmax(2)
    copy = kernels(0.0, False)
    for _ in range(steps):
        mask = (local(mask, copy) * aff).sum(2)
    return mask


def query_logits(model, image: Tensor, ori_shape) -> Tensor:
    """The paper's ``forward_slide`` (or whole-image pass) for one image (3, H, W)."""
    image, protocol = image.to(model.query_features.device)[None], model.protocol
    if protocol.slide_crop <= 0:  # the whole image is one crop (all its views), upsampled to ori_shape
        if protocol.whole_image_via_input:
            logits = crop_logits(model, image)
            logits = F.interpolate(logits, size=ori_shape, mode="bilinear", align_corners=False)
        else:
            logits = crop_logits(model, image, ori_shape)
        if not protocol.whole_image_pamr:
            return logits[0]
    else:
        logits = _slide(model, image, ori_shape)
    if protocol.pamr_steps > 0:
        guide = F.interpolate(image.float(), size=ori_shape, mode="bilinear", align_corners=False)
        logits = pamr_conv(guide, logits, protocol.pamr_steps, protocol.pamr_stride)
    return logits[0]


def _slide(model, image: Tensor, ori_shape) -> Tensor:
    """Window by window onto a full-size canvas, divided by the coverage, upsampled to ``ori_shape``."""
    height, width = image.shape[-2:]
    canvas = image.new_zeros(1, model.query_features.shape[0], height, width, dtype=torch.float32)
    count = image.new_zeros(1, 1, height, width, dtype=torch.float32)
    for w in window_grid(height, width, model.protocol.slide_crop, model.protocol.slide_stride):
        crop = image[..., w.y1:w.y2, w.x1:w.x2]
        if model.protocol.window_padding:  # pad to whole patches, take the window's part of the padded logits
            (top, bottom), (left, right) = patch_padding(model.visual, *crop.shape[-2:],
                                                         model.protocol.padding_multiple)
            logits = crop_logits(model, F.pad(crop, (left, right, top, bottom)))
            logits = logits[..., top:top + crop.shape[-2], left:left + crop.shape[-1]]
        else:
            logits = crop_logits(model, crop)
        canvas += F.pad(logits, (w.x1, width - w.x2, w.y1, height - w.y2))  # a full-size copy per window
        count[..., w.y1:w.y2, w.x1:w.x2] += 1
    return F.interpolate(canvas / count, size=ori_shape, mode="bilinear", align_corners=False)
