"""Data sets the paper evaluates on that mmsegmentation 1.2.2 does not ship.

mmseg has Pascal VOC with background (21 classes) but neither COCO-Object
(81 classes, labels made by ``datasets/cvt_coco_object.py``) nor Pascal VOC
without background (20 classes). Both are registered in mmseg's ``DATASETS``
when :mod:`itaclip.models` is imported, so configs can name them by ``type``; so is
``LoadCheckedAnnotations``, the label loader eval.py uses (one line naming a bad label file).
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
import os.path as osp

from mmengine import fileio
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS, TRANSFORMS

from .render import palette

COCO_OBJECT_CLASSES: tuple[str, ...] = (
    "background",
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
    "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)


@DATASETS.register_module()
class COCOObjectDataset(BaseSegDataset):
    """COCO-Object: COCO val2017 with the 80 thing classes plus background (81).

    Labels are the ``*_instanceTrainIds.png`` maps written by
    ``datasets/cvt_coco_object.py`` (0 = background, 1..80 = things), so no
    label shift is needed.
    """

    METAINFO = dict(classes=COCO_OBJECT_CLASSES, palette=palette(len(COCO_OBJECT_CLASSES), background=True).tolist())

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = "_instanceTrainIds.png",
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class PascalVOC20Dataset(BaseSegDataset):
    """Pascal VOC 2012 without the background class (20 classes).

    Same files as mmseg's ``PascalVOCDataset``; ``reduce_zero_label=True``
    turns background (0) into the ignore index 255 and shifts the 20 object
    ids down by one, so background pixels are not scored.
    """

    METAINFO = dict(classes=PascalVOCDataset.METAINFO["classes"][1:],
                    palette=PascalVOCDataset.METAINFO["palette"][1:])

    def __init__(self, ann_file: str, img_suffix: str = ".jpg", seg_map_suffix: str = ".png",
                 reduce_zero_label: bool = True, **kwargs) -> None:
        lazy_init = kwargs.pop("lazy_init", False)
        # init lazily first so missing files get a clear error instead of a bare assert
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, lazy_init=True, **kwargs)
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f"Pascal VOC split file not found: {self.ann_file} (see datasets/README.md)")
        if not fileio.exists(self.data_prefix["img_path"], self.backend_args):
            raise FileNotFoundError(f"Pascal VOC image folder not found: {self.data_prefix['img_path']}")
        if not lazy_init:
            self.full_init()


class LabelFileError(ValueError):
    """A label file of the data set cannot be read (one line naming it)."""


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations``, with one line naming a label file that is missing or cannot be decoded
    (eval.py puts it in place of ``LoadAnnotations``; it loads exactly the same labels)."""

    def _load_seg_map(self, results: dict) -> None:
        try:
            super()._load_seg_map(results)
        except (OSError, AttributeError, ValueError) as err:  # a missing file; undecodable bytes give None
            why = "cannot be decoded" if isinstance(err, AttributeError) else str(err).splitlines()[0]
            raise LabelFileError(f"label file {results.get('seg_map_path')} cannot be read ({why}); fix or "
                                 "remove it, or leave its image out of the split file") from None
