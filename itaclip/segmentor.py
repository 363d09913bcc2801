"""The mmseg model: ITACLIP's stages composed into a ``BaseSegmentor``.

Registered in mmseg's ``MODELS`` as ``ITACLIPSegmentor`` and under the
paper's type name ``ITACLIP_Segmentor``, with the paper's constructor keys,
so configs written for the paper's code build it unchanged.
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)
import open_clip
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from . import llm_texts, reference, tiles
from .backbone import LastBlock, dense_features
from .postprocess import postprocess
from .slide import (batched, coverage, crop_windows, images_per_pass, patch_logits, patch_padding, stitch,
                    window_grid)
from .class_files import NAME_SEPARATOR, load_texts, read_auxiliary_texts
from .text import query_embeddings
from .views import NUM_VIEWS, combine_views, make_views
from .weights import load_clip

# Section 0: the paper's normalisation; the BGR image from mmseg becomes RGB.
DATA_PREPROCESSOR = dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], rgb_to_bgr=True)
BACKGROUND_DATASETS = ("voc21", "context60", "coco_object")  # data sets whose class 0 is background
# On CPU, passes whose activations stay near the caches run fastest (225 tiny-model crops:
# 2.4 s in chunks of 4-8 images, 4.3 s in one chunk), so the CPU budget is small.
CPU_BUDGET_MB = 64
# PAMR on a CPU: 80 channels of 375x500 took 1.2 s at once, 0.39 s in cache-sized chunks of 4-16.
PAMR_CPU_BYTES = 8 * 2**20
# Memory one tile of the full-size stages may take on a CPU (itaclip.tiles), at most a quarter of the
# available memory: the command then segments a 48-megapixel photo with 171 classes in 7.1 GB (a 1 GiB
# budget made a 12-megapixel one a third slower: PAMR's 160-pixel halo weighs more on small tiles).
CPU_TILE_BUDGET_MB = 4096


def preprocessor_for(clip: torch.nn.Module) -> dict:
    """The data preprocessor of a CLIP's own normalisation: the paper's values for OpenAI's statistics
    (every OpenAI and most open_clip weights), the model's (times 255) otherwise."""
    config = open_clip.get_model_preprocess_cfg(clip)
    mean, std = config.get("mean"), config.get("std")
    if mean is None or std is None:
        return DATA_PREPROCESSOR
    mean, std = [255 * m for m in mean], [255 * s for s in std]
    if all(abs(a - b) < 1e-2 for a, b in zip(mean + std, DATA_PREPROCESSOR["mean"] + DATA_PREPROCESSOR["std"])):
        return DATA_PREPROCESSOR
    return dict(mean=mean, std=std, rgb_to_bgr=True)


@MODELS.register_module()
@MODELS.register_module(name="ITACLIP_Segmentor")
class ITACLIPSegmentor(BaseSegmentor):
    """Training-free open-vocabulary segmentation with a frozen CLIP (ITACLIP).

    Paper keys: ``model_name`` (any spelling of :mod:`itaclip.weights`), ``name_path``
    (class-name file), ``dataset_name``, ``device``, ``img_engineering`` (five
    views), ``auxiliary_text_path`` (LLM texts, ``name >=text``: a path, or
    ``paper:<file>``/``ours:<file>``, see :mod:`itaclip.llm_texts`), ``attn_self``
    (self-self attention), ``def_coefficient`` (beta, weight of the LLM text),
    ``img_eng_coefficient`` (lambda, weight of views 1-3 against the flips),
    ``pamr_steps``/``pamr_stride``, ``logit_scale``, ``prob_thd``, ``area_thd``,
    ``slide_stride``/``slide_crop`` (``slide_crop=0``: the whole image is one
    crop, with all five views when ``img_engineering`` is on, upsampled
    straight to ``ori_shape``, no PAMR, as in the paper's code) and
    ``width_chunk_size`` (the paper's memory workaround; accepted for its
    configs and not needed here, since passes are chunked by memory budget).

    Ours: ``classes`` (class names given directly instead of ``name_path``;
    see :meth:`set_classes`), ``background`` (class 0 is background; ``None`` infers it from
    ``dataset_name`` like the paper), ``precision`` (``fp32``/``fp16``/``bf16``;
    ``None`` is fp16 on CUDA, fp32 on CPU), ``memory_budget_mb`` (bytes a pass
    may use; ``None`` is half the free CUDA memory, or 64 MiB on CPU),
    ``sequential`` (run windows and views one pass at a time with PAMR by
    dilated convolutions, the paper's order, the whole image at once; for
    benchmarks and checks), ``compile`` (``torch.compile`` the vision
    forward: a compilation per window size first; ``scripts/benchmark.py
    --compile`` tells if it pays), ``tile_budget_mb`` (bytes one tile of the
    full-size stages, upsampling, PAMR and post-processing, may use, see
    :mod:`itaclip.tiles`; ``None`` is a quarter of the free memory, at most
    4 GiB on a CPU) and ``keep_probs`` (store ``seg_logits``: ``None`` when
    C x H x W floats fit the tile budget, ``True`` always, ``False`` never;
    the labels never need them whole).

    Where other methods differ (their adapters in :mod:`itaclip.methods` set
    these; ITACLIP's values are the defaults): ``last_block`` (a dict of
    :class:`~itaclip.backbone.LastBlock` fields over ITACLIP's recipe, e.g.
    ``dict(fuse_blocks=())``), ``closing`` (the 3x3 morphological closing of
    the label map), ``renormalise`` (stored class probabilities divided by
    their sum, NACLIP), ``window_padding`` (each window zero-padded to whole
    patches, centred, ClearCLIP), ``whole_image_via_input`` (whole-image
    logits resized to the input size before ``ori_shape``, NACLIP),
    ``whole_image_pamr`` (PAMR on the whole-image path too, NACLIP) and
    ``name_separator`` (between the names of a class line: ``", "``, or
    ClearCLIP's bare ``","``).
    """

    def __init__(self, name_path: str | None = None, model_name: str = "ViT-B/16", dataset_name: str | None = None,
                 device: str | torch.device | None = None, img_engineering: bool = True,
                 auxiliary_text_path: str | None = None, attn_self: bool = True,
                 def_coefficient: float = 0.2, img_eng_coefficient: float = 0.75,
                 pamr_steps: int = 10, pamr_stride=(8, 16), logit_scale: float = 40,
                 prob_thd: float = 0.0, area_thd: float | None = None, slide_stride: int = 28,
                 slide_crop: int = 224, width_chunk_size: int | None = None,
                 background: bool | None = None, precision: str | None = None,
                 memory_budget_mb: int | None = None, sequential: bool = False,
                 classes: list[str | list[str]] | None = None, compile: bool = False,
                 last_block: dict | None = None, closing: bool = True, renormalise: bool = False,
                 window_padding: bool = False, whole_image_via_input: bool = False,
                 whole_image_pamr: bool = False, name_separator: str = NAME_SEPARATOR,
                 tile_budget_mb: float | None = None, keep_probs: bool | None = None):
        super().__init__(data_preprocessor=SegDataPreProcessor(**DATA_PREPROCESSOR))
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if background is None:
            background = dataset_name in BACKGROUND_DATASETS
        if (name_path is None) == (classes is None):
            raise ValueError("give name_path (a class-name file) or classes (a list of class names), one of them")
        self.recipe = LastBlock(**{"attention": "qq+kk" if attn_self else "qk", **(last_block or {})})
        # Texts first: a missing or unfetchable file fails before the weights are read.
        aux_path = None if auxiliary_text_path is None else llm_texts.resolve(auxiliary_text_path)
        if name_path is not None:
            classes, aux = load_texts(name_path, aux_path, background, name_separator)
        else:
            aux = None if aux_path is None else [t for _, t in read_auxiliary_texts(aux_path)]
        self.clip = load_clip(model_name, device, precision)
        self.data_preprocessor = SegDataPreProcessor(**preprocessor_for(self.clip)).to(device)
        self.dataset_name, self.beta = dataset_name, def_coefficient
        self.set_classes(classes, aux, background)
        self.img_engineering, self.attn_self = img_engineering, attn_self
        self.lam = img_eng_coefficient
        self.pamr_steps, self.pamr_stride = pamr_steps, tuple(pamr_stride)
        self.logit_scale, self.prob_thd, self.area_thd = logit_scale, prob_thd, area_thd
        self.slide_stride, self.slide_crop = slide_stride, slide_crop
        self.width_chunk_size = width_chunk_size
        self.memory_budget_mb, self.sequential = memory_budget_mb, sequential
        self.tile_budget_mb, self.keep_probs = tile_budget_mb, keep_probs
        self.closing, self.renormalise, self.window_padding = closing, renormalise, window_padding
        self.whole_image_via_input, self.whole_image_pamr = whole_image_via_input, whole_image_pamr
        self.encoder = torch.compile(dense_features, dynamic=False) if compile else dense_features

    def set_classes(self, classes: list[str | list[str]], auxiliary_texts: list[str] | None = None,
                    background: bool = False) -> None:
        """Segment into these classes from now on (texts are embedded once per model).

        ``classes[i]`` is the name of class ``i`` or a list of its names (one
        query each); ``auxiliary_texts`` one LLM text per class, background
        (class 0, when ``background``) excluded.
        """
        classes = [[c] if isinstance(c, str) else list(c) for c in classes]
        features, query_idx = query_embeddings(self.clip, classes, auxiliary_texts, self.beta, background)
        device = next(self.clip.parameters()).device
        self.register_buffer("query_features", features.to(device), persistent=False)
        self.register_buffer("query_idx", torch.as_tensor(query_idx, device=device), persistent=False)
        self.class_names, self.num_classes, self.background = classes, len(classes), background

    @property
    def visual(self) -> torch.nn.Module:
        return self.clip.visual

    def _budget(self) -> int:
        if self.memory_budget_mb is not None:
            return int(self.memory_budget_mb * 2**20)
        device = self.query_features.device
        if device.type == "cuda":
            return torch.cuda.mem_get_info(device)[0] // 2
        return CPU_BUDGET_MB * 2**20

    def _window_logits(self, image: Tensor) -> Tensor:
        """Sliding-window logits at input size, (Q, H, W), all windows x views batched."""
        height, width = image.shape[-2:]
        windows = window_grid(height, width, self.slide_crop, self.slide_stride)
        crops, padding = crop_windows(image, windows), ((0, 0), (0, 0))
        if self.window_padding:
            padding = patch_padding(self.visual, *crops.shape[-2:])
            crops = F.pad(crops, (*padding[1], *padding[0]))
        grid = self._crop_grids(crops)
        return stitch(grid, windows, height, width, padding) / coverage(windows, height, width, grid.device)

    def _crop_grids(self, crops: Tensor) -> Tensor:
        """Section 4 for equal-sized crops (N, 3, h, w): view-mixed patch-grid logits, (N, Q, gh, gw).

        All crops x views go through the network in passes sized by the memory budget.
        """
        per_pass = images_per_pass(self.visual, *crops.shape[-2:], self._budget())

        def run(batch: Tensor) -> Tensor:
            return patch_logits(self.visual, batch, self.query_features, self.recipe, self.encoder)

        if not self.img_engineering:
            return batched(run, crops, per_pass)
        views = make_views(crops).flatten(0, 1)
        return combine_views(batched(run, views, per_pass).unflatten(0, (NUM_VIEWS, len(crops))), self.lam)

    def source_logits(self, image: Tensor) -> tuple[Tensor, bool]:
        """The logits the full-size stages start from, (Q, h, w), and whether PAMR refines them.

        Sliding windows: the window canvas at input size. Whole image: its
        patch-grid logits (NACLIP: resized to the input size first).
        """
        if self.slide_crop > 0:
            return self._window_logits(image), True
        logits = self._crop_grids(image[None])
        if self.whole_image_via_input:
            logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return logits[0], self.whole_image_pamr

    def full_size_settings(self, refine: bool = True) -> tiles.FullSize:
        """The stages after the sliding window (:mod:`itaclip.tiles`), with this model's keys and budget."""
        on_gpu = self.query_features.device.type == "cuda"
        if self.tile_budget_mb is not None:
            budget = int(self.tile_budget_mb * 2**20)
        else:
            free = tiles.available_bytes(self.query_features.device)
            budget = free // 4 if on_gpu else min(CPU_TILE_BUDGET_MB * 2**20, (free or 2**32) // 4)
        return tiles.FullSize(self.query_idx, self.num_classes, self.logit_scale,
                              self.pamr_steps if refine else 0, self.pamr_stride, self.prob_thd, self.area_thd,
                              self.closing, self.renormalise, None if on_gpu else PAMR_CPU_BYTES, budget)

    def query_logits(self, image: Tensor, ori_shape: tuple[int, int]) -> Tensor:
        """Per-query logits of one normalised RGB image (3, H, W) at ``ori_shape``, (Q, h, w), untiled (for
        checks: predict runs in tiles)."""
        if self.sequential:
            return reference.query_logits(self, image, ori_shape)
        image = image.to(self.query_features.device)
        source, refine = self.source_logits(image)
        settings = self.full_size_settings(refine)
        guide = tiles.pamr_guide(image, ori_shape) if settings.pamr_steps > 0 else None
        return tiles.refined_logits(source, guide, ori_shape, tiles.Window(0, ori_shape[0], 0, ori_shape[1]),
                                    settings)

    def _keeps_probs(self, size: tuple[int, int], keep_probs: bool | None = None) -> bool:
        """Whether probabilities of an image of ``size`` are kept: as asked, else ``self.keep_probs``,
        else while they fit the tile budget."""
        keep_probs = self.keep_probs if keep_probs is None else keep_probs
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

        ``keep_probs``: None (``self.keep_probs``), True or False (probabilities not returned; the labels
        need them only tile by tile).
        """
        keep_probs = self._keeps_probs(ori_shape, keep_probs)
        if self.sequential:  # the paper's order, the whole image at once
            logits = reference.query_logits(self, image, ori_shape)
            probs, labels = postprocess(logits, self.query_idx, self.num_classes, self.logit_scale, self.prob_thd,
                                        self.area_thd, self.closing, self.renormalise)
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
            probs, labels = self.segment_image(image[:, :img_h, :img_w], ori_shape)
            sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
            if probs is not None:
                sample.set_data(dict(seg_logits=PixelData(data=probs)))
        return data_samples

    def encode_decode(self, inputs: Tensor, batch_img_metas=None) -> Tensor:
        """Class probabilities of a batch at input size, (B, C, H, W)."""
        return torch.stack([self.predict(image[None])[0].seg_logits.data for image in inputs])

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """The recipe's dense CLIP features of whole images, (B, 1 + h*w, E)."""
        return dense_features(self.visual, inputs.to(self.query_features.device), self.recipe)

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        return self.encode_decode(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        raise NotImplementedError("ITACLIP is training-free: ITACLIPSegmentor has no loss; use predict")
