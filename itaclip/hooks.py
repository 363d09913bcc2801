"""mmengine hooks of ``eval.py``: the predicted label maps of ``--out``, written atomically.

mmseg's ``IoUMetric`` can save them itself, with a plain save that an
interruption can leave half-written; this hook writes each through
:func:`itaclip.atomic.atomic_write` instead.
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
from pathlib import Path

import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS
from PIL import Image

from .atomic import atomic_write


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """Each test image's label map as ``<out_dir>/<image stem>.png``: 8-bit, as mmseg's ``IoUMetric`` writes,
    or 16-bit for a data set of more than 256 classes (Pascal Context-459, ADE20K-847), every image alike."""

    def __init__(self, out_dir: str):
        self.out_dir = Path(out_dir)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        wide = len(runner.test_dataloader.dataset.metainfo.get("classes", ())) > 256
        for sample in outputs or []:
            labels = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
            if sample.get("reduce_zero_label", False):  # back to the data set's own label values
                labels = labels + 1
            with atomic_write(self.out_dir / f"{Path(sample.img_path).stem}.png") as f:
                Image.fromarray(labels.astype(np.uint16 if wide else np.uint8)).save(f, format="PNG")
