"""Segment single images from Python: load a preset, name the classes, get a label map.

:class:`Segmenter` wraps a method's segmentor (:mod:`itaclip.methods`) with one of the
configurations in ``configs/`` and runs an image through the same steps as
mmseg's test pipeline (BGR uint8, the preset's keep-ratio ``Resize``, the
model's data preprocessor, ``predict``), so a photo segmented here gets the
label map ``eval.py`` would give it. :class:`Segmentation` holds the result
and draws it (palette mask, overlay with a legend); the ``itaclip segment``
command and ``demo.ipynb`` use these same helpers.

Environment: ``ITACLIP_CLIP_WEIGHTS`` is the CLIP weights (any ``model_name``
spelling of :mod:`itaclip.weights`) used when none are given, ``ITACLIP_DEVICE`` the device.
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
import os
from typing import Any, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from . import (
    budget,
    llm_texts,
    models,  # noqa: F401  (every method registered, for presets of any method)
    provenance,
)
from .class_files import (  # parse_names: also importable from here
    check_distinct,
    parse_names,
    read_auxiliary_texts,
    split_list,
)
from .methods import resolved_recipe
from .presets import (
    DEFAULT_WEIGHTS,
    DEVICE_VARIABLE,
    WEIGHTS_VARIABLE,
    default_preset,
    load_preset,
    presets,
    resize_step,
)
from .render import (
    ImageInput,
    ImageReadError,
    Segmentation,
    class_colour,
    decode_reduced,
    image_size,
    palette,
    to_rgb,
)
from .segmentor import Recipe, TrainingFreeSegmentor

BACKGROUND_NAME = "background"


class ImageTooSmall(ValueError):
    """An image too thin for the model (one line saying which limit)."""


class ImageTooLarge(MemoryError):
    """An image that would not fit the memory available: one line, with the option that helps."""


def default_weights() -> str:
    return os.environ.get(WEIGHTS_VARIABLE) or DEFAULT_WEIGHTS


def default_device() -> str:
    return os.environ.get(DEVICE_VARIABLE) or ("cuda" if torch.cuda.is_available() else "cpu")


def class_names_of(classes: Sequence[str | Sequence[str]], background: str | Sequence[str] | None) -> list[list[str]]:
    """The names of each class as the model takes them: the background's names first (class 0) when given;
    a name given twice is a ValueError naming it."""
    names = ([parse_names(background)] if background is not None else []) + [parse_names(item) for item in classes]
    check_distinct(names)
    return names


def preset_recipe(preset: str) -> Recipe:
    """The typed settings a preset's config resolves to (its method's adapter applied; nothing loaded)."""
    return resolved_recipe(load_preset(preset).model.to_dict())


# ---------------------------------------------------------------------------------------- segmenter

class Segmenter:
    """A method's model (ITACLIP's or another's), its preset's test resize and the names of its classes.

    Build it with :meth:`from_classes` (your own class names) or
    :meth:`from_preset` (a data set's classes, as ``eval.py`` runs it), then
    call :meth:`segment` on as many images as you like.
    """

    def __init__(self, model: TrainingFreeSegmentor, scale: tuple[int, int] | None, keep_ratio: bool = True,
                 settings: dict[str, Any] | None = None):
        self.model, self.scale, self.keep_ratio = model, scale, keep_ratio
        self.settings = dict(settings or {})

    @classmethod
    def _build(cls, preset: str, cfg: Config, kwargs: dict[str, Any], weights: str | None, device: str | None,
               extra: dict[str, Any]) -> "Segmenter":
        method = kwargs.pop("type", "ITACLIPSegmentor")  # ITACLIP or another method's adapter (itaclip.methods)
        kwargs.update(model_name=weights or default_weights(), device=device or default_device())
        kwargs.update(extra)
        try:  # the texts first (fetched on first use): a missing one fails before the weights are read
            texts = provenance.texts_record(kwargs.get("auxiliary_text_path"))
        except llm_texts.PaperTextsUnavailable as err:
            err.hint = "texts='ours' (or texts='none')"
            raise
        model = MODELS.get(method)(**kwargs)
        scale, keep_ratio = resize_step(cfg)
        settings = dict(preset=preset, method=method, weights=provenance.weights_record(kwargs["model_name"]),
                        device=str(kwargs["device"]), background=model.class_names[0] if model.background else None)
        settings.update(model.settings(), resize_scale=list(scale) if scale else None, llm_texts=texts)
        return cls(model, scale, keep_ratio, settings)

    def configure(self, **changes: Any) -> None:
        """Change settings of the protocol or the compute budget (``slide_stride``, ``pamr_steps``, ``prob_thd``,
        ``tile_budget_mb``, ...) from the next image on, checked as when built; the run record follows."""
        self.model.configure(**changes)
        self.settings.update(self.model.settings())

    @classmethod
    def from_preset(cls, preset: str = "voc21", weights: str | None = None, device: str | None = None,
                    texts: str | None = None, **overrides: Any) -> "Segmenter":
        """The preset's model as its config builds it; ``overrides`` replace constructor keys.

        ``texts``: ``"paper"`` (the paper's LLM texts, fetched once; what the
        paper's five presets read by default), ``"ours"`` (this project's,
        shipped in ``llm_texts/``) or ``"none"``; None keeps the preset's.
        ``auxiliary_text_path=<file>`` reads a file of your own instead.
        """
        cfg = load_preset(preset)
        kwargs = cfg.model.to_dict()
        if texts is not None:
            kwargs["auxiliary_text_path"] = llm_texts.switch(kwargs.get("auxiliary_text_path"), texts, "texts=")
        return cls._build(preset, cfg, kwargs, weights, device, overrides)

    @classmethod
    def from_classes(cls, classes: Sequence[str | Sequence[str]], background: str | Sequence[str] | None = None,
                     texts: Sequence[str] | str | os.PathLike | None = None, weights: str | None = None,
                     device: str | None = None, preset: str | None = None, **overrides: Any) -> "Segmenter":
        """Segment into your own classes with a preset's settings.

        ``classes``: one item per class, a name, ``"tv; monitor; screen"`` or a
        list of names (each name is a query of that class). ``background``:
        names that together make class 0 (e.g. ``["wall", "floor", "sky"]``).
        ``texts``: one LLM text per class (background excluded), mixed in with
        the preset's ``def_coefficient``, as a list or as a file of
        ``name >=text`` lines (a path, or ``paper:<file>``/``ours:<file>``).
        ``preset`` defaults to ``voc21``
        with a background and ``coco_stuff164k`` without. Without a background
        the preset's ``prob_thd``/``area_thd`` are turned off, since they hand
        pixels to class 0 (unless given in ``overrides``). ``settings["llm_texts"]``
        records the texts' source (``"given"`` for a list; a file's path and SHA-256).
        """
        if isinstance(classes, str):
            raise ValueError(f"classes={classes!r} is one string, not a list of classes; write e.g. "
                             f"classes={split_list(classes) or ['cat', 'dog']!r}")
        has_background = background is not None
        names = class_names_of(classes, background)
        if len(names) == has_background:
            raise ValueError("give at least one class")
        texts_file = None
        if isinstance(texts, (str, os.PathLike)):
            texts_file = provenance.texts_record(texts)
            texts = [text for _, text in read_auxiliary_texts(texts_file["path"])]
        if texts is not None and len(texts) != len(names) - has_background:
            where = f" in {texts_file['path']}" if texts_file else ""
            raise ValueError(f"{len(texts)} LLM texts{where} for {len(names) - has_background} classes; give one "
                             f"per class{' (background excluded)' if has_background else ''}")
        preset = preset or default_preset(has_background)
        cfg = load_preset(preset)
        kwargs = cfg.model.to_dict()
        for key in ("name_path", "dataset_name"):
            kwargs.pop(key, None)
        kwargs.update(classes=names, background=has_background, auxiliary_text_path=None)
        if not has_background:
            kwargs.update(prob_thd=0.0, area_thd=None)
        segmenter = cls._build(preset, cfg, kwargs, weights, device, overrides)
        if texts is not None:  # built without texts first: the query embeddings are cached, so only texts are new
            segmenter.model.set_classes(names, list(texts), has_background)
            segmenter.settings["llm_texts"] = texts_file or dict(source="given")
        return segmenter

    def set_classes(self, classes: Sequence[str | Sequence[str]], background: str | Sequence[str] | None = None,
                    texts: Sequence[str] | None = None) -> None:
        """Segment into other classes from now on, as :meth:`from_classes` takes them (the model stays; only
        new names are embedded, from the cache when seen before)."""
        names = class_names_of(classes, background)
        self.model.set_classes(names, None if texts is None else list(texts), background is not None)
        self.settings["background"] = self.model.class_names[0] if background is not None else None

    @property
    def classes(self) -> list[list[str]]:
        """Every name (query) of each class, class 0 first."""
        return [list(names) for names in self.model.class_names]

    @property
    def class_names(self) -> list[str]:
        """One display name per class: ``"background"`` for a background class 0, else the first name."""
        names = [names[0] for names in self.model.class_names]
        if self.model.background:
            names[0] = BACKGROUND_NAME
        return names

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the preset's test resize gives an ``height x width`` image (mmcv's rounding)."""
        if self.scale is None:
            return height, width
        if not self.keep_ratio:
            return self.scale[1], self.scale[0]
        factor = min(max(self.scale) / max(height, width), min(self.scale) / min(height, width))
        return int(height * factor + 0.5), int(width * factor + 0.5)

    def check_size(self, height: int, width: int) -> None:
        """Raise :class:`ImageTooSmall` (one line) for an image too thin for this model: once resized, under
        the smallest crop it takes (one patch, or the views' blur), or thinner than PAMR's largest dilation."""
        if min(height, width) < 1:
            raise ImageTooSmall(f"{width} x {height} pixels: the image is empty")
        protocol = self.model.protocol
        needs = [(*self.model.smallest_crop(), self.network_size(height, width))]
        if protocol.pamr_steps > 0:
            needs.append((max(protocol.pamr_stride) + 1, "PAMR's largest dilation", (height, width)))
        for need, what, size in needs:
            if min(size) < need:
                resized = "" if size == (height, width) else f", {size[1]} x {size[0]} once resized,"
                raise ImageTooSmall(f"{width} x {height} pixels{resized} is thinner than {what} ({need} pixels); "
                                    "pad or crop the image to a less extreme shape")

    def check_fits(self, height: int, width: int, probs: bool | None = None) -> None:
        """Raise :class:`ImageTooLarge` (one line, naming ``max_pixels``) if a ``height x width`` image would
        not fit the memory available now; cheap, so callers ask before decoding a large photo."""
        per_pixel, tile = self.model.full_size_bytes((height, width), probs)
        per_pixel += budget.IMAGE_BYTES_PER_PIXEL
        if self.model.query_features.device.type != "cpu":  # tiles run on the device, full-size arrays here
            tile = 0
        need, free = per_pixel * height * width + tile, budget.available_bytes(torch.device("cpu"))
        if free is None or need <= free:
            return
        fits = budget.working_pixels(per_pixel, tile, free)
        raise ImageTooLarge(f"{width} x {height} pixels need about {need / 1e9:.1f} GB at full size and "
                            f"{free / 1e9:.1f} GB are available; segment it at a working size with "
                            f"max_pixels={fits} (labels computed at that size and upsampled: not the paper's "
                            "protocol)")

    @torch.no_grad()
    def segment(self, image: ImageInput, probs: bool | None = None, max_pixels: int | None = None,
                size: tuple[int, int] | None = None) -> Segmentation:
        """Segment one image (path, PIL image or uint8 array); the result has the image's size.

        ``probs``: keep the class probabilities in ``result.probs`` (None: when they fit the model's tile
        budget; the label map never needs them whole). ``max_pixels``: segment an image of more pixels
        at a working size of at most that many, and upsample its labels (nearest) to the image's size:
        a way to take photos too large for this machine's memory, not the paper's protocol
        (``result.working_size`` says when it happened; ``result.probs`` is then None). A path is then decoded
        at a reduced size where its format allows (:func:`~itaclip.render.decode_reduced`); ``size``: the
        image's own (height, width) when ``image`` is such a reduced decode of it already.
        """
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer))
                                       or max_pixels < 1):
            raise ValueError(f"max_pixels={max_pixels!r}: max_pixels must be a whole number of pixels, 1 or more "
                             "(e.g. 24_000_000), or None")
        if size is None and max_pixels is not None and isinstance(image, (str, os.PathLike)):
            header = image_size(image)
            if header[0] * header[1] > max_pixels:  # a huge photo is never decoded whole where avoidable
                image, size = decode_reduced(image, max_pixels), header
        rgb = to_rgb(image)
        height, width = size or rgb.shape[:2]
        working = None
        if max_pixels is not None and height * width > max_pixels:
            scale = (max_pixels / (height * width)) ** 0.5
            working = (max(1, int(height * scale)), max(1, int(width * scale)))
            rgb = cv2.resize(rgb, working[::-1], interpolation=cv2.INTER_AREA)
            probs = False
        elif (height, width) != rgb.shape[:2]:
            raise ValueError(f"size={size}: give it only with max_pixels, for a reduced decode of the image")
        self.check_size(*rgb.shape[:2])
        self.check_fits(*rgb.shape[:2], probs)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if self.scale is None:
            small = bgr
        elif self.keep_ratio:
            small = mmcv.imrescale(bgr, self.scale, interpolation="bilinear")
        else:
            small = mmcv.imresize(bgr, self.scale, interpolation="bilinear")
        sample = SegDataSample(metainfo=dict(ori_shape=bgr.shape[:2], img_shape=small.shape[:2],
                                             pad_shape=small.shape[:2]))
        del bgr
        inputs = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))
        data = self.model.data_preprocessor(dict(inputs=[inputs], data_samples=[sample]), training=False)
        probabilities, labels = self.model.segment_image(data["inputs"][0], sample.ori_shape, probs)
        labels = labels[0].cpu().numpy()
        if working is not None:
            labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        return Segmentation(labels=labels, probs=None if probabilities is None else probabilities.float().cpu(),
                            class_names=self.class_names, classes=self.classes,
                            background=bool(self.model.background), working_size=working)


__all__ = ["ImageReadError", "ImageTooLarge", "ImageTooSmall", "Segmentation", "Segmenter", "class_colour", "palette",
           "presets", "to_rgb"]
