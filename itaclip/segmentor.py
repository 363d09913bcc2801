"""The one mmseg segmentor of every training-free CLIP method here: the shared pipeline, configured by settings.

:class:`TrainingFreeSegmentor` runs, for any :class:`~itaclip.backbone.LastBlock`,
:class:`~itaclip.settings.Protocol` and :class:`~itaclip.settings.Compute`:
the text side (:mod:`itaclip.text`), sliding windows and image views as a few
batched passes (:mod:`itaclip.slide`, :mod:`itaclip.views`) through a
:class:`~itaclip.backbone.DenseEncoder`, and the full-size stages in exact
tiles (:mod:`itaclip.tiles`: upsampling, PAMR, post-processing); with
``sequential=True`` the paper's order instead (:mod:`itaclip.reference`).

Methods are adapters over it (:mod:`itaclip.methods`): each maps its authors'
constructor keys onto these settings in :meth:`TrainingFreeSegmentor.method_keys`
and may choose another :attr:`~TrainingFreeSegmentor.encoder_class`. The
segmentor itself is registered as ``TrainingFreeSegmentor`` and takes the
settings' own keys, flat (``slide_stride=112``, ``last_block=dict(...)``).
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
from dataclasses import dataclass, field
from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import Tensor

from . import budget, llm_texts, reference, tiles
from .backbone import ITACLIP, DenseEncoder, LastBlock
from .class_files import load_texts, read_auxiliary_texts
from .kernels import ProxyMaskError
from .postprocess import postprocess
from .provenance import vfm_record
from .settings import Compute, Protocol, SettingError, settable
from .slide import batched, coverage, crop_windows, patch_logits, patch_padding, stitch, window_grid
from .text import query_embeddings
from .vfm import load_vfm
from .views import BLUR_KERNEL, NUM_VIEWS, combine_views, make_views
from .weights import load_clip

# Section 0: the paper's normalisation; the BGR image from mmseg becomes RGB.
DATA_PREPROCESSOR = dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], rgb_to_bgr=True)
BACKGROUND_DATASETS = ("voc21", "context60", "coco_object")  # data sets whose class 0 is background
DEFAULT_WEIGHTS = "ViT-B/16"
# Settings read only while the model is built: changing them means building another model.
BUILD_ONLY = ("name_separator", "precision", "compile", "width_chunk_size")


def clip_normalisation(clip: torch.nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A CLIP's own normalisation, ``(mean, std)`` on the 0-1 scale (OpenAI's when the model names none)."""
    config = open_clip.get_model_preprocess_cfg(clip)
    mean, std = config.get("mean"), config.get("std")
    if mean is None or std is None:
        return OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    return tuple(mean), tuple(std)


def preprocessor_for(clip: torch.nn.Module) -> dict:
    """The data preprocessor of a CLIP's own normalisation: the paper's values for OpenAI's statistics
    (every OpenAI and most open_clip weights), the model's (times 255) otherwise."""
    mean, std = clip_normalisation(clip)
    mean, std = [255 * m for m in mean], [255 * s for s in std]
    if all(abs(a - b) < 1e-2 for a, b in zip(mean + std, DATA_PREPROCESSOR["mean"] + DATA_PREPROCESSOR["std"])):
        return DATA_PREPROCESSOR
    return dict(mean=mean, std=std, rgb_to_bgr=True)


@dataclass(frozen=True)
class Recipe:
    """What a segmentor is built from, typed: a method's keys resolved (:meth:`TrainingFreeSegmentor.resolve`),
    nothing read or loaded yet.

    ``model_name`` any spelling of :mod:`itaclip.weights`; the classes from
    ``name_path`` (a class-name file) or ``classes`` (names, or lists of
    names: one query each); ``background`` (class 0 is background; None infers
    it from ``dataset_name`` as the paper does); ``auxiliary_text_path`` (LLM
    texts, ``name >=text`` lines: a path, or ``paper:<file>``/``ours:<file>``,
    see :mod:`itaclip.llm_texts`); ``device`` (None: CUDA when there is one);
    ``method_settings``: a method's own settings for its encoder (a frozen,
    validated dataclass, e.g. :class:`~itaclip.scclip.SCCLIPEnding`), None for most;
    ``vfm_name``: a second vision model beside CLIP (any spelling of :mod:`itaclip.vfm`), loaded as
    ``self.vfm`` for the method's encoder to use as its guide; None for CLIP-only methods.
    """

    model_name: str = DEFAULT_WEIGHTS
    name_path: str | None = None
    classes: list | None = None
    background: bool | None = None
    dataset_name: str | None = None
    auxiliary_text_path: str | None = None
    device: Any = None
    last_block: LastBlock = ITACLIP
    protocol: Protocol = field(default_factory=Protocol)
    compute: Compute = field(default_factory=Compute)
    method_settings: Any = None
    vfm_name: str | None = None

    INPUTS = ("model_name", "name_path", "classes", "background", "dataset_name", "auxiliary_text_path", "device",
              "vfm_name")

    @classmethod
    def from_keys(cls, keys: dict[str, Any], method: str = "TrainingFreeSegmentor") -> "Recipe":
        """The recipe of flat keys: the inputs above, ``last_block`` (a dict of fields or a LastBlock) and every
        field of :class:`Protocol` and :class:`Compute` by name; any other key is a :class:`SettingError`."""
        known = set(cls.INPUTS) | {"last_block", "method_settings"} | set(Protocol.keys()) | set(Compute.keys())
        unknown = [key for key in keys if key not in known]
        if unknown:
            raise SettingError(f"{unknown[0]}: {method} takes no key {unknown[0]!r}; its own keys and the settings' "
                               f"({', '.join(sorted(known))})")
        inputs = {key: keys[key] for key in cls.INPUTS if key in keys}
        if inputs.get("model_name") is None:  # no weights named: the default ones
            inputs.pop("model_name", None)
        return cls(**inputs, last_block=LastBlock.of(keys.get("last_block") or {}),
                   protocol=Protocol(**{key: keys[key] for key in Protocol.keys() if key in keys}),
                   compute=Compute(**{key: keys[key] for key in Compute.keys() if key in keys}),
                   method_settings=keys.get("method_settings"))


def merge(method: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """A method's keys with the user's own on top; ``last_block`` field by field."""
    merged = {**method, **ours}
    if isinstance(method.get("last_block"), dict) and isinstance(ours.get("last_block"), dict):
        merged["last_block"] = {**method["last_block"], **ours["last_block"]}
    return merged


@MODELS.register_module()
class TrainingFreeSegmentor(BaseSegmentor):
    """Training-free open-vocabulary segmentation with a frozen CLIP, for any method's settings.

    Keys: the inputs of :class:`Recipe` (``model_name``, ``name_path`` or
    ``classes``, ``background``, ``dataset_name``, ``auxiliary_text_path``,
    ``device``), ``last_block`` (a dict of :class:`~itaclip.backbone.LastBlock`
    fields) and every :class:`~itaclip.settings.Protocol` and
    :class:`~itaclip.settings.Compute` field by name. Each is checked where it
    is given, in one line.

    A method subclasses this with :meth:`method_keys` (its authors' keys ->
    these) and, if its last block needs more than :class:`~itaclip.backbone.LastBlock` says,
    :attr:`encoder_class` (a :class:`~itaclip.backbone.DenseEncoder` with its
    hooks) or :meth:`make_encoder` (to give it a second vision model).
    """

    encoder_class = DenseEncoder
    uses_vfm = False  # whether the method's encoder takes a second vision model (``vfm_name``)

    @classmethod
    def method_keys(cls, **keys: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(method's keys, user's keys)`` in this segmentor's vocabulary; the user's win (:func:`merge`).
        Here the keys are already the settings' own."""
        return {}, keys

    @classmethod
    def resolve(cls, **keys: Any) -> Recipe:
        """The typed :class:`Recipe` these keys build, checked; no weights or files are read."""
        method, ours = cls.method_keys(**keys)
        return Recipe.from_keys(merge(method, ours), cls.registered_name())

    @classmethod
    def registered_name(cls) -> str:
        """The type name configs use for this class (an authors' type name where it has one)."""
        names = [name for name, registered in MODELS.module_dict.items() if registered is cls]
        return cls.__name__ if cls.__name__ in names or not names else names[0]

    def __init__(self, **keys: Any):
        recipe = self.resolve(**keys)
        if (recipe.vfm_name is not None) != self.uses_vfm:
            raise SettingError(f"vfm_name: {self.registered_name()} "
                               + ("has no second vision model; leave vfm_name out" if self.uses_vfm is False
                                  else "needs a second vision model; give vfm_name"))
        super().__init__(data_preprocessor=SegDataPreProcessor(**DATA_PREPROCESSOR))
        device = torch.device(recipe.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if (recipe.name_path is None) == (recipe.classes is None):
            raise ValueError("give name_path (a class-name file) or classes (a list of class names), one of them")
        background = recipe.background
        if background is None:
            background = recipe.dataset_name in BACKGROUND_DATASETS
        self.dataset_name = recipe.dataset_name
        self.last_block, self.protocol, self.compute = recipe.last_block, recipe.protocol, recipe.compute
        # Texts first: a missing or unfetchable file fails before the weights are read.
        aux_path = None if recipe.auxiliary_text_path is None else llm_texts.resolve(recipe.auxiliary_text_path)
        classes = recipe.classes
        if recipe.name_path is not None:
            classes, aux = load_texts(recipe.name_path, aux_path, background, self.protocol.name_separator)
        else:
            aux = None if aux_path is None else [t for _, t in read_auxiliary_texts(aux_path)]
        self.clip = load_clip(recipe.model_name, device, self.compute.precision)
        self.clip_model = self.clip.model  # a module of the segmentor, so it moves with it
        self.vfm = None if recipe.vfm_name is None else load_vfm(recipe.vfm_name, device, self.clip.precision)
        self.data_preprocessor = SegDataPreProcessor(**preprocessor_for(self.clip.model)).to(device)
        self.encoder = self.make_encoder(recipe).to(device)
        self.check_window(self.protocol)
        self.set_classes(classes, aux, background)

    def smallest_crop(self, protocol: Protocol | None = None) -> tuple[int, str]:
        """The fewest pixels a crop's sides may have, and what sets it: one patch of the model, or the image
        views' blur (its reflect padding needs more rows than half the kernel) when the views are on."""
        protocol = protocol or self.protocol
        patch = max(self.visual.conv1.kernel_size)
        blur = BLUR_KERNEL // 2 + 1 if protocol.img_engineering else 0
        return (patch, "one patch of the vision model") if patch >= blur else (blur, "the blur of the image views")

    def check_window(self, protocol: Protocol) -> None:
        """A window must be a crop this model can take (:meth:`smallest_crop`)."""
        least, _ = self.smallest_crop(protocol)
        if 0 < protocol.slide_crop < least:
            raise SettingError(f"slide_crop={protocol.slide_crop}: slide_crop must be 0 (the whole image) or at "
                               f"least {least} pixels for this model")

    def make_encoder(self, recipe: Recipe) -> DenseEncoder:
        """The vision forward of this method: :attr:`encoder_class` of the last block (override it to hand the
        encoder a second vision model or the method's own settings; ``self.clip`` is loaded by then)."""
        return self.encoder_class(recipe.last_block)

    def set_classes(self, classes: list[str | list[str]], auxiliary_texts: list[str] | None = None,
                    background: bool = False) -> None:
        """Segment into these classes from now on (texts are embedded once per model).

        ``classes[i]`` is the name of class ``i`` or a list of its names (one
        query each); ``auxiliary_texts`` one LLM text per class, background
        (class 0, when ``background``) excluded.
        """
        classes = [[c] if isinstance(c, str) else list(c) for c in classes]
        features, query_idx = query_embeddings(self.clip, classes, auxiliary_texts, self.protocol.def_coefficient,
                                               background)
        device = self.clip.device
        self.register_buffer("query_features", features.to(device), persistent=False)
        self.register_buffer("query_idx", torch.as_tensor(query_idx, device=device), persistent=False)
        self.class_names, self.num_classes, self.background = classes, len(classes), background
        self.auxiliary_texts = auxiliary_texts

    def configure(self, **changes: Any) -> None:
        """Change protocol or compute settings from now on (the web page does, per request), checked as when
        built; settings read only while building (``name_separator``, ``precision``, ...) are refused."""
        fixed = [key for key in changes if key in BUILD_ONLY]
        if fixed:
            raise SettingError(f"{fixed[0]}: set only when the model is built; build another model to change it")
        unknown = [key for key in changes if key not in settable()]
        if unknown:
            raise SettingError(f"{unknown[0]}: not a setting; settings: {', '.join(settable())}")
        protocol = self.protocol.changed(**{k: v for k, v in changes.items() if k in Protocol.keys()})
        compute = self.compute.changed(**{k: v for k, v in changes.items() if k in Compute.keys()})
        remix = protocol.def_coefficient != self.protocol.def_coefficient and self.auxiliary_texts is not None
        self.check_window(protocol)
        self.protocol, self.compute = protocol, compute
        if remix:
            self.set_classes(self.class_names, self.auxiliary_texts, self.background)

    @property
    def visual(self) -> torch.nn.Module:
        return self.clip.visual

    def settings(self) -> dict[str, Any]:
        """The settings in force, as plain values (the run record's)."""
        vfm = {} if self.vfm is None else dict(vfm=vfm_record(self.vfm.name))
        return dict(last_block=self.last_block.as_dict(), **self.protocol.as_dict(),
                    precision=self.clip.precision, **vfm)

    def _encode(self, images: Tensor) -> Tensor:
        """The dense features of a batch, through ``torch.compile`` when asked (one compilation per size)."""
        if self.compute.compile:
            if "_compiled" not in self.__dict__:
                self.__dict__["_compiled"] = torch.compile(self.encoder.forward, dynamic=False)
            return self.__dict__["_compiled"](self.visual, images)
        return self.encoder(self.visual, images)

    def _window_logits(self, image: Tensor) -> Tensor:
        """Sliding-window logits at input size, (Q, H, W), all windows x views batched."""
        height, width = image.shape[-2:]
        windows = window_grid(height, width, self.protocol.slide_crop, self.protocol.slide_stride)
        crops, padding = crop_windows(image, windows), ((0, 0), (0, 0))
        if self.protocol.window_padding:
            padding = patch_padding(self.visual, *crops.shape[-2:], self.protocol.padding_multiple)
            crops = F.pad(crops, (*padding[1], *padding[0]))
        grid = self._crop_grids(crops)
        return stitch(grid, windows, height, width, padding) / coverage(windows, height, width, grid.device)

    def _crop_grids(self, crops: Tensor) -> Tensor:
        """Section 4 for equal-sized crops (N, 3, h, w): view-mixed patch-grid logits, (N, Q, gh, gw).

        All crops x views go through the network in passes sized by the memory budget.
        """
        device = self.query_features.device
        per_pass = budget.images_per_pass(self.encoder.pass_bytes(self.visual, *crops.shape[-2:]),
                                          budget.pass_bytes(device, self.compute.memory_budget_mb))
        grid = self.encoder.output_grid(self.visual, *crops.shape[-2:])

        def run(batch: Tensor) -> Tensor:
            return patch_logits(batch, self.query_features, self._encode, grid, self.encoder.first_patch_row)

        if not self.protocol.img_engineering:
            return batched(run, crops, per_pass)
        views = make_views(crops).flatten(0, 1)
        return combine_views(batched(run, views, per_pass).unflatten(0, (NUM_VIEWS, len(crops))),
                             self.protocol.img_eng_coefficient)

    def source_logits(self, image: Tensor) -> tuple[Tensor, bool]:
        """The logits the full-size stages start from, (Q, h, w), and whether PAMR refines them.

        Sliding windows: the window canvas at input size. Whole image: its
        patch-grid logits (NACLIP: resized to the input size first).
        """
        if self.protocol.slide_crop > 0:
            return self._window_logits(image), True
        logits = self._crop_grids(image[None])
        if self.protocol.whole_image_via_input:
            logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return logits[0], self.protocol.whole_image_pamr

    def full_size_settings(self, refine: bool = True) -> tiles.FullSize:
        """The stages after the sliding window (:mod:`itaclip.tiles`), with this model's settings and budget."""
        p, device = self.protocol, self.query_features.device
        return tiles.FullSize(self.query_idx, self.num_classes, p.logit_scale, p.pamr_steps if refine else 0,
                              p.pamr_stride, p.prob_thd, p.area_thd, p.closing, p.renormalise,
                              budget.pamr_chunk_bytes(device), budget.tile_bytes(device, self.compute.tile_budget_mb))

    def query_logits(self, image: Tensor, ori_shape: tuple[int, int]) -> Tensor:
        """Per-query logits of one normalised RGB image (3, H, W) at ``ori_shape``, (Q, h, w), untiled (for
        checks: predict runs in tiles)."""
        if self.compute.sequential:
            return reference.query_logits(self, image, ori_shape)
        image = image.to(self.query_features.device)
        source, refine = self.source_logits(image)
        settings = self.full_size_settings(refine)
        guide = tiles.pamr_guide(image, ori_shape) if settings.pamr_steps > 0 else None
        return tiles.refined_logits(source, guide, ori_shape, tiles.Window(0, ori_shape[0], 0, ori_shape[1]),
                                    settings)

    def _keeps_probs(self, size: tuple[int, int], keep_probs: bool | None = None) -> bool:
        """Whether probabilities of an image of ``size`` are kept: as asked, else ``keep_probs`` of the compute
        settings, else while they fit the tile budget."""
        keep_probs = self.compute.keep_probs if keep_probs is None else keep_probs
        if keep_probs is None:
            return 4 * self.num_classes * size[0] * size[1] <= self.full_size_settings().budget
        return keep_probs

    def full_size_bytes(self, size: tuple[int, int], keep_probs: bool | None = None) -> tuple[int, int]:
        """The memory an image of ``size`` needs after the sliding window: (bytes per output pixel, bytes of
        one tile). Per pixel: the labels (and the closing's copy), PAMR's guide, kept probabilities."""
        settings = self.full_size_settings()
        label_bytes = 1 if settings.closing and self.num_classes <= 256 else 8
        per_pixel = 2 * label_bytes + 12 * (settings.pamr_steps > 0)
        per_pixel += 4 * self.num_classes * self._keeps_probs(size, keep_probs)
        return per_pixel, max(settings.tile_cost(tile, size) for tile in tiles.plan(size, settings))

    def segment_image(self, image: Tensor, ori_shape: tuple[int, int],
                      keep_probs: bool | None = None) -> tuple[Tensor | None, Tensor]:
        """Class probabilities (C, h, w) and labels (1, h, w) of one normalised image (3, H, W) at ``ori_shape``.

        ``keep_probs``: None (the compute settings'), True or False (probabilities not returned; the labels
        need them only tile by tile).
        """
        keep_probs = self._keeps_probs(ori_shape, keep_probs)
        if self.compute.sequential:  # the paper's order, the whole image at once
            p = self.protocol
            logits = reference.query_logits(self, image, ori_shape)
            probs, labels = postprocess(logits, self.query_idx, self.num_classes, p.logit_scale, p.prob_thd,
                                        p.area_thd, p.closing, p.renormalise)
            return (probs if keep_probs else None), labels
        image = image.to(self.query_features.device)
        source, refine = self.source_logits(image)
        probs, labels = tiles.full_size(source, image, ori_shape, self.full_size_settings(refine), keep_probs)
        return probs, labels[None]

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples=None):
        """mmseg's contract: store ``pred_sem_seg`` (1, h, w) and ``seg_logits`` (C, h, w) at ``ori_shape``.

        ``seg_logits`` (class probabilities, fp32) is left out when ``keep_probs`` says so (by default when
        it would not fit the tile budget: mmseg's metrics read only ``pred_sem_seg``).
        """
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(ori_shape=tuple(inputs.shape[-2:])))
                            for _ in range(inputs.shape[0])]
        for image, sample in zip(inputs, data_samples):
            meta = sample.metainfo
            img_h, img_w = meta.get("img_shape", image.shape[-2:])[:2]
            ori_shape = tuple(meta.get("ori_shape", (img_h, img_w))[:2])
            try:
                probs, labels = self.segment_image(image[:, :img_h, :img_w], ori_shape)
            except ProxyMaskError as err:  # name the image where a data set's is known
                raise ProxyMaskError(f"{meta['img_path']}: {err}" if meta.get("img_path") else str(err)) from None
            sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
            if probs is not None:
                sample.set_data(dict(seg_logits=PixelData(data=probs)))
        return data_samples

    def encode_decode(self, inputs: Tensor, batch_img_metas=None) -> Tensor:
        """Class probabilities of a batch at input size, (B, C, H, W)."""
        return torch.stack([self.predict(image[None])[0].seg_logits.data for image in inputs])

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """This method's dense CLIP features of whole images, (B, 1 + h*w, E)."""
        return self.encoder(self.visual, inputs.to(self.query_features.device))

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        return self.encode_decode(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        raise NotImplementedError(f"{type(self).__name__} is training-free: it has no loss; use predict")
