"""Data sets the paper and the baselines evaluate on that mmsegmentation 1.2.2 does not ship.

mmseg has Pascal VOC with background (21 classes) but neither COCO-Object
(81 classes, labels made by ``datasets/cvt_coco_object.py``) nor Pascal VOC
without background (20 classes), nor the two large-vocabulary sets ProxyCLIP
evaluates on: Pascal Context with all 459 classes and ADE20K-full with 847
(uint16 ``.tif`` labels made by detectron2's scripts; 65535 = unlabelled).
All four are registered in mmseg's ``DATASETS`` when :mod:`itaclip.models` is
imported, so configs can name them by ``type``; so are the label loaders
``LoadCheckedAnnotations`` (mmseg's, with one line naming a bad label file; eval.py
puts it in place of ``LoadAnnotations``) and ``LoadAnnotations16`` (the same for
16-bit label maps, which mmseg's loader would cut to 8 bits), and ``IoUMetric16``
(mmseg's metric, comparing 16-bit labels without cutting them).
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
import os.path as osp
from importlib import resources

import mmcv
import numpy as np
from mmengine import fileio
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.evaluation import IoUMetric
from mmseg.registry import DATASETS, METRICS, TRANSFORMS

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
    (eval.py puts it in place of ``LoadAnnotations``; it loads exactly the same labels).

    ``num_classes`` and ``ignore_index`` given, label values outside ``[0, num_classes)`` and not the ignore
    index are, with ``out_of_range='ignore'``, set to the ignore index (for data sets that need it; eval.py's
    ``--cfg-options label_check=ignore``); otherwise left as they are (eval.py checks them first)."""

    def __init__(self, *args, num_classes: int | None = None, ignore_index: int = 255,
                 out_of_range: str = "keep", **kwargs):
        super().__init__(*args, **kwargs)
        if out_of_range not in ("keep", "ignore"):
            raise ValueError(f"out_of_range={out_of_range!r}: 'keep' or 'ignore'")
        self.num_classes, self.ignore_index, self.out_of_range = num_classes, ignore_index, out_of_range

    def _load_seg_map(self, results: dict) -> None:
        try:
            self._read_labels(results)
        except (OSError, AttributeError, ValueError) as err:  # a missing file; undecodable bytes give None
            why = "cannot be decoded" if isinstance(err, AttributeError) else str(err).splitlines()[0]
            raise LabelFileError(f"label file {results.get('seg_map_path')} cannot be read ({why}); fix or "
                                 "remove it, or leave its image out of the split file") from None
        if self.out_of_range == "ignore" and self.num_classes is not None:
            labels = results["gt_seg_map"]
            outside = (labels >= self.num_classes) & (labels != self.ignore_index)
            if outside.any():
                results["gt_seg_map"] = np.where(outside, self.ignore_index, labels).astype(labels.dtype)

    def _read_labels(self, results: dict) -> None:
        super()._load_seg_map(results)


UNLABELLED_16 = 65535  # the unlabelled value of 16-bit label maps (detectron2's converters write it)


@TRANSFORMS.register_module()
class LoadAnnotations16(LoadCheckedAnnotations):
    """``LoadCheckedAnnotations`` for 16-bit label maps (class ids above 255, e.g. Pascal Context-459's
    and ADE20K-847's ``.tif`` files): ``gt_seg_map`` is uint16, ids as stored.

    mmseg's ``LoadAnnotations`` casts every label map to uint8, which wraps ids
    above 255 around onto other classes. 8-bit files load unchanged (as uint16).
    ``reduce_zero_label`` makes 0 unlabelled (65535) and shifts the other ids
    down by one; the data set's ``label_map`` (a ``metainfo`` classes subset)
    is applied as given. Labels are not checked against the class count: ids
    beyond it, like 65535, are what the evaluator's ignore index is for
    (``IoUMetric16``: mmseg's ``IoUMetric`` would cut them to 8 bits again).
    """

    def _read_labels(self, results: dict) -> None:
        data = fileio.get(results["seg_map_path"], backend_args=self.backend_args)
        labels = mmcv.imfrombytes(data, flag="unchanged", backend=self.imdecode_backend)
        if labels is None:  # OpenCV could not decode the bytes
            raise ValueError("cannot be decoded")
        labels = labels.squeeze()
        if labels.ndim != 2:
            raise ValueError(f"an image of shape {labels.shape}, not a one-channel label map")
        if labels.dtype not in (np.uint8, np.uint16):  # e.g. a 32-bit TIFF: fine if its ids fit 16 bits
            if labels.dtype.kind not in "iu" or labels.size and not 0 <= labels.min() <= labels.max() <= 65535:
                raise ValueError(f"{labels.dtype} values, not 16-bit class ids")
        labels = labels.astype(np.uint16)
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results["reduce_zero_label"]
        assert self.reduce_zero_label == results["reduce_zero_label"], \
            f"the data set has reduce_zero_label={results['reduce_zero_label']}, the loader {self.reduce_zero_label}"
        if self.reduce_zero_label:
            labels = np.where((labels == 0) | (labels == UNLABELLED_16), UNLABELLED_16, labels - 1).astype(np.uint16)
        if results.get("label_map") is not None:  # one look-up, not a pass over the image per class
            table = np.arange(UNLABELLED_16 + 1, dtype=np.uint16)
            for old_id, new_id in results["label_map"].items():
                table[old_id] = new_id
            labels = table[labels]
        results["gt_seg_map"] = labels
        results["seg_fields"].append("gt_seg_map")


@METRICS.register_module()
class IoUMetric16(IoUMetric):
    """mmseg's ``IoUMetric`` for 16-bit labels (ignore index 65535 by default), comparing in int64.

    mmseg's casts the labels to the prediction's dtype, and a uint8 prediction
    (ITACLIP's closing step gives one when all of an image's labels are below
    256) would wrap them: 300 would be scored as 44, 65535 as 255.
    """

    def __init__(self, ignore_index: int = UNLABELLED_16, **kwargs) -> None:
        super().__init__(ignore_index=ignore_index, **kwargs)

    def process(self, data_batch: dict, data_samples) -> None:
        samples = [dict(sample, pred_sem_seg=dict(sample["pred_sem_seg"], data=sample["pred_sem_seg"]["data"].long()))
                   for sample in data_samples]
        super().process(data_batch, samples)


def _class_names(file: str) -> tuple[str, ...]:
    """The class names in ``itaclip/data/<file>`` (package data): one class per line."""
    return tuple((resources.files(__package__) / "data" / file).read_text(encoding="utf-8").splitlines())


class Labels16Dataset(BaseSegDataset):
    """A data set with uint16 label maps whose unlabelled value is 65535 (class 255 is a class like any other).

    Its pipeline must load labels with ``LoadAnnotations16`` and its evaluator
    be ``IoUMetric16`` (ignore index 65535), as the base configs have it.
    Images are ``.jpg``, labels ``.tif`` (detectron2's converters), ``reduce_zero_label`` False.
    A ``metainfo=dict(classes=[...])`` override selects a subset of the
    classes, in its order, as in mmseg; the classes left out become 65535
    (mmseg's own mapping would make them 255, a real class here).
    """

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".tif", reduce_zero_label: bool = False,
                 ignore_index: int = UNLABELLED_16, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         ignore_index=ignore_index, **kwargs)

    @classmethod
    def get_label_map(cls, new_classes=None) -> dict | None:
        old_classes = cls.METAINFO["classes"]
        if new_classes is None or list(new_classes) == list(old_classes):
            return None
        unknown = [name for name in new_classes if name not in old_classes]
        if unknown:
            raise ValueError(f"classes {unknown[:5]} are not classes of {cls.__name__} (its class names: "
                             f"METAINFO['classes'], from itaclip/data/)")
        new_index = {name: i for i, name in enumerate(new_classes)}
        return {i: new_index.get(name, UNLABELLED_16) for i, name in enumerate(old_classes)}

    def _update_palette(self) -> list:
        palette, classes = self._metainfo.get("palette", []), self._metainfo.get("classes", [])
        if self.label_map is None or len(palette) == len(classes):
            return super()._update_palette()
        kept = sorted((new, old) for old, new in self.label_map.items() if new != UNLABELLED_16)
        return [palette[old] for _, old in kept]


PASCAL_CONTEXT_459_CLASSES = _class_names("context459_classes.txt")
ADE20K_847_CLASSES = _class_names("ade847_classes.txt")


@DATASETS.register_module()
class PascalContext459Dataset(Labels16Dataset):
    """Pascal Context val with all 459 classes (no background class): ``JPEGImages/*.jpg`` and the uint16
    ``*.tif`` label maps of detectron2's ``prepare_pascal_context_459.py`` (ids 0..458, 65535 unlabelled).

    Class names: the first name of each line of ProxyCLIP's ``cls_context459.txt``.
    """

    METAINFO = dict(classes=PASCAL_CONTEXT_459_CLASSES,
                    palette=palette(len(PASCAL_CONTEXT_459_CLASSES), background=False).tolist())


@DATASETS.register_module()
class ADE20K847Dataset(Labels16Dataset):
    """ADE20K-full val with 847 classes: ``images_detectron2/validation/*.jpg`` and the uint16 ``*.tif`` label
    maps of detectron2's ``prepare_ade20k_full_sem_seg.py`` (ids 0..846, 65535 unlabelled).

    Class names: the lines of ProxyCLIP's ``cls_ade20k847.txt`` (a name like
    ``building, edifice`` is one class).
    """

    METAINFO = dict(classes=ADE20K_847_CLASSES,
                    palette=palette(len(ADE20K_847_CLASSES), background=False).tolist())
