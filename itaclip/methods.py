"""The methods, as equals: each one an adapter from its authors' constructor keys to the shared settings.

Each is registered in mmseg's ``MODELS`` under its authors' type name, with
their keys and defaults, so their configs build unchanged; each also takes
this project's keys (``model_name``, which wins over the authors' weights
keys, ``classes``, ``last_block`` and every field of
:class:`~itaclip.settings.Protocol` and :class:`~itaclip.settings.Compute`),
which win over the method's own values. An adapter is only
:meth:`~itaclip.segmentor.TrainingFreeSegmentor.method_keys`: what its keys
mean in the shared vocabulary; the computation is the one segmentor's.

=================================  =========================================================================
``ITACLIPSegmentor``               ITACLIP (Aydın et al., CVPRW 2025): q·q + k·k attention mixed with the
(``ITACLIP_Segmentor``)            maps of blocks 7, 8, 10, residual kept, no feed-forward; five image views;
                                   LLM texts; PAMR; closing
``CLIPForSegmentation``            SCLIP (Wang et al., ECCV 2024): q·q + k·k attention (CSA), residual and
                                   feed-forward kept; no closing; PAMR off unless asked (sliding path only)
``NACLIP``                         NACLIP (Hajimiri et al., WACV 2025): k·k attention plus a Gaussian
                                   neighbourhood bias, no residual, no feed-forward; PAMR on both paths;
                                   class probabilities renormalised; no closing
``ClearCLIPSegmentation``          ClearCLIP (Lan et al., ECCV 2024): q·q attention, no residual, no
                                   feed-forward; windows padded to whole patches; no PAMR, no closing;
                                   class lines split on a bare ","
``SCCLIPForSegmentation``          SC-CLIP (Bai et al., IEEE TIP 2025): anomaly tokens repaired after block
                                   L-1, similarity-guided aggregation, the last block replaced and run twice
                                   (:mod:`itaclip.scclip`); otherwise SCLIP's protocol
``ResCLIPSegmentation``            ResCLIP (Yang et al., CVPR 2025): RCS (blocks 6-9's maps mixed in) and SFR (a
                                   first pass's labels fed back into a second) over NACLIP's attention, or
                                   SCLIP's, ClearCLIP's, CLIP's (:mod:`itaclip.resclip`); NACLIP's protocol
``ProxyCLIPSegmentation``          ProxyCLIP (Lan et al., ECCV 2024): a second vision model (DINO) gives the
                                   last block's attention, CLIP the values, on DINO's grid
                                   (:mod:`itaclip.proxyclip`); windows of 336 padded to multiples of 56; no
                                   PAMR, no closing; class lines split on "; "
=================================  =========================================================================
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
from pathlib import Path
from typing import Any

from mmseg.registry import MODELS

from .proxyclip import PROXYCLIP_PADDING, ProxyEncoder, VisionGuide
from .resclip import RCS_BLOCKS, ResCLIPEncoder, ResCLIPOptions, check_strategy
from .scclip import SCCLIPEncoder, SCCLIPEnding
from .segmentor import DEFAULT_WEIGHTS, Recipe, TrainingFreeSegmentor, clip_normalisation
from .settings import POSITIVE, SettingError
from .weights import OPENAI_NAMES

Keys = tuple[dict[str, Any], dict[str, Any]]


@MODELS.register_module()
@MODELS.register_module(name="ITACLIP_Segmentor")
class ITACLIPSegmentor(TrainingFreeSegmentor):
    """ITACLIP with the paper's keys (``ITACLIP_Segmentor`` is the paper's type name).

    ``img_engineering`` (five views), ``attn_self`` (self-self attention q·q + k·k;
    False: CLIP's q·k), ``def_coefficient`` (beta), ``img_eng_coefficient``
    (lambda), ``pamr_steps``/``pamr_stride``, ``logit_scale``, ``prob_thd``,
    ``area_thd``, ``slide_stride``/``slide_crop`` (``slide_crop=0``: the whole
    image is one crop, with all five views, upsampled straight to the output
    size, no PAMR, as in the paper's code), ``width_chunk_size`` (the paper's
    memory workaround, not needed here), ``name_path``, ``dataset_name``
    (class 0 is background for voc21, context60, coco_object),
    ``auxiliary_text_path``, ``model_name``, ``device``.
    """

    @classmethod
    def method_keys(cls, name_path: str | None = None, model_name: str = DEFAULT_WEIGHTS,
                    dataset_name: str | None = None, device=None, img_engineering: bool = True,
                    auxiliary_text_path: str | None = None, attn_self: bool = True, def_coefficient: float = 0.2,
                    img_eng_coefficient: float = 0.75, pamr_steps: int = 10, pamr_stride=(8, 16),
                    logit_scale: float = 40, prob_thd: float = 0.0, area_thd: float | None = None,
                    slide_stride: int = 28, slide_crop: int = 224, width_chunk_size: int | None = None,
                    **ours: Any) -> Keys:
        if not isinstance(attn_self, bool):
            raise SettingError(f"attn_self={attn_self!r}: attn_self must be True or False")
        return dict(name_path=name_path, model_name=model_name, dataset_name=dataset_name, device=device,
                    auxiliary_text_path=auxiliary_text_path,
                    last_block=dict(attention="qq+kk" if attn_self else "qk"), img_engineering=img_engineering,
                    def_coefficient=def_coefficient, img_eng_coefficient=img_eng_coefficient,
                    pamr_steps=pamr_steps, pamr_stride=pamr_stride, logit_scale=logit_scale, prob_thd=prob_thd,
                    area_thd=area_thd, slide_stride=slide_stride, slide_crop=slide_crop,
                    width_chunk_size=width_chunk_size), ours


def _baseline(name_path, model_name, device, **keys) -> dict[str, Any]:
    """A CLIP-only baseline's keys: no image views, no LLM texts, no closing, and no maps of other blocks
    unless its ``last_block`` names some."""
    last_block = {"fuse_blocks": (), **keys.pop("last_block")}
    return dict(name_path=name_path, model_name=model_name, device=device, img_engineering=False, closing=False,
                last_block=last_block, **keys)


@MODELS.register_module(name="CLIPForSegmentation")
class SCLIPSegmentor(TrainingFreeSegmentor):
    """SCLIP with its authors' keys; ``csa=False`` (an extension) gives the plain q·k last block."""

    @classmethod
    def method_keys(cls, clip_path: str | None = None, name_path: str | None = None, device=None,
                    pamr_steps: int = 0, pamr_stride=(8, 16), prob_thd: float = 0.0, logit_scale: float = 40,
                    slide_stride: int = 112, slide_crop: int = 224, area_thd: float | None = None, csa: bool = True,
                    model_name: str | None = None, **ours: Any) -> Keys:
        last_block = dict(attention="qq+kk" if csa else "qk", residual=True, ffn=True)
        return _baseline(name_path, model_name or clip_path or DEFAULT_WEIGHTS, device, pamr_steps=pamr_steps,
                         pamr_stride=pamr_stride, prob_thd=prob_thd, logit_scale=logit_scale,
                         slide_stride=slide_stride, slide_crop=slide_crop, area_thd=area_thd,
                         last_block=last_block), ours


NACLIP_ATTENTION = {"naclip": "kk+gaussian", "nonly": "gaussian", "kk": "kk", "csa": "qq+kk", "vanilla": "qk"}


@MODELS.register_module(name="NACLIP")
class NACLIPSegmentor(TrainingFreeSegmentor):
    """NACLIP with its authors' keys: ``arch`` ('reduced' drops the last block's residual and
    feed-forward, 'vanilla' keeps both), ``attn_strategy`` and ``gaussian_std``."""

    @classmethod
    def method_keys(cls, clip_path: str | None = None, name_path: str | None = None, device=None,
                    arch: str = "reduced", attn_strategy: str = "naclip", gaussian_std: float = 5.0,
                    pamr_steps: int = 10, pamr_stride=(8, 16), prob_thd: float = 0.0, logit_scale: float = 40,
                    slide_stride: int = 112, slide_crop: int = 224, model_name: str | None = None,
                    **ours: Any) -> Keys:
        if arch not in ("reduced", "vanilla"):
            raise SettingError(f"arch={arch!r}: NACLIP's arch must be 'reduced' or 'vanilla'")
        if attn_strategy not in NACLIP_ATTENTION:
            raise SettingError(f"attn_strategy={attn_strategy!r}: NACLIP's attn_strategy must be one of "
                               f"{', '.join(NACLIP_ATTENTION)}")
        if attn_strategy == "csa" and arch != "vanilla":
            raise SettingError("attn_strategy='csa': NACLIP's 'csa' needs arch='vanilla', as in its authors' code")
        keep = arch == "vanilla"
        last_block = dict(attention=NACLIP_ATTENTION[attn_strategy], residual=keep, ffn=keep,
                          gaussian_std=gaussian_std)
        return _baseline(name_path, model_name or clip_path or DEFAULT_WEIGHTS, device, pamr_steps=pamr_steps,
                         pamr_stride=pamr_stride, prob_thd=prob_thd, logit_scale=logit_scale,
                         slide_stride=slide_stride, slide_crop=slide_crop, renormalise=True,
                         whole_image_via_input=True, whole_image_pamr=True, last_block=last_block), ours


CLEARCLIP_ATTENTION = {"vanilla": "qk", "ClearCLIP": "qq", "SCLIP": "qq+kk", "MaskCLIP": "identity"}


def clearclip_weights(clip_type: str, vit_type: str) -> str:
    """The OpenAI weights ClearCLIP's ``clip_type``/``vit_type`` pick (its other families need ``model_name``)."""
    if clip_type != "CLIP":
        raise SettingError(f"clip_type={clip_type!r}: only OpenAI's 'CLIP' weights are built in for ClearCLIP; "
                           "pass model_name=<checkpoint> for other weights")
    if "B" in vit_type:
        return "ViT-B/16"
    if "L" in vit_type:
        return "ViT-L/14"
    raise SettingError(f"vit_type={vit_type!r}: ClearCLIP's vit_type names neither a B nor an L model; use "
                       "'ViT-B/16'")


@MODELS.register_module(name="ClearCLIPSegmentation")
class ClearCLIPSegmentor(TrainingFreeSegmentor):
    """ClearCLIP with its authors' keys: ``model_type`` picks the last block's attention ('ClearCLIP'
    q·q, 'vanilla' q·k, 'SCLIP' q·q + k·k, 'MaskCLIP' identity); ``ignore_residual`` drops its
    residual and feed-forward. ``clip_type``/``vit_type`` pick OpenAI weights; ``model_name`` any file."""

    @classmethod
    def method_keys(cls, clip_type: str = "CLIP", vit_type: str = "ViT-B/16", model_type: str = "ClearCLIP",
                    name_path: str | None = None, device=None, ignore_residual: bool = True, prob_thd: float = 0.0,
                    logit_scale: float = 50, slide_stride: int = 224, slide_crop: int = 448,
                    model_name: str | None = None, **ours: Any) -> Keys:
        if model_type not in CLEARCLIP_ATTENTION:
            raise SettingError(f"model_type={model_type!r}: ClearCLIP's model_type must be one of "
                               f"{', '.join(CLEARCLIP_ATTENTION)} (GEM is not implemented here)")
        last_block = dict(attention=CLEARCLIP_ATTENTION[model_type], residual=not ignore_residual,
                          ffn=not ignore_residual)
        return _baseline(name_path, model_name or clearclip_weights(clip_type, vit_type), device, pamr_steps=0,
                         prob_thd=prob_thd, logit_scale=logit_scale, slide_stride=slide_stride,
                         slide_crop=slide_crop, window_padding=True, name_separator=",",
                         last_block=last_block), ours


@MODELS.register_module(name="SCCLIPForSegmentation")
class SCCLIPSegmentor(TrainingFreeSegmentor):
    """SC-CLIP with its authors' keys: SCLIP's (``clip_path``, ``pamr_steps``, ``slide_crop``, ...) and
    ``pre_adjust_idx``, ``post_adjust_idx``, ``multi_start_idx``, ``multi_end_idx`` (list indices of block
    outputs: index i is block i+1; the end exclusive) and ``res_cls`` (the class token's weight ρ)."""

    @classmethod
    def method_keys(cls, clip_path: str | None = None, name_path: str | None = None, device=None,
                    pamr_steps: int = 0, pamr_stride=(8, 16), prob_thd: float = 0.0, logit_scale: float = 40,
                    slide_stride: int = 112, slide_crop: int = 224, area_thd: float | None = None,
                    pre_adjust_idx: int = 8, post_adjust_idx: int = 3, multi_start_idx: int = 3,
                    multi_end_idx: int = 10, res_cls: float = 0.3, model_name: str | None = None,
                    **ours: Any) -> Keys:
        ending = SCCLIPEnding(pre_adjust_idx, post_adjust_idx, multi_start_idx, multi_end_idx, res_cls)
        return _baseline(name_path, model_name or clip_path or DEFAULT_WEIGHTS, device, pamr_steps=pamr_steps,
                         pamr_stride=pamr_stride, prob_thd=prob_thd, logit_scale=logit_scale,
                         slide_stride=slide_stride, slide_crop=slide_crop, area_thd=area_thd,
                         last_block=dict(attention="scclip", residual=False, ffn=False), method_settings=ending), ours

    def make_encoder(self, recipe: Recipe) -> SCCLIPEncoder:
        recipe.method_settings.check_depth(len(self.visual.transformer.resblocks))
        return SCCLIPEncoder(recipe.method_settings, recipe.last_block)


RESCLIP_ATTENTION = {"resclip": "kk+gaussian", "naclip": "kk+gaussian", "sclip": "qq+kk", "clearclip": "qq",
                     "vanilla": "qk"}


@MODELS.register_module(name="ResCLIPSegmentation")
class ResCLIPSegmentor(TrainingFreeSegmentor):
    """ResCLIP with its authors' keys: NACLIP's (``arch`` 'wo_resi'/'w_resi', ``attn_strategy``,
    ``gaussian_std``, ...), ``temp_thd``, ``attn_rcs_weights``/``attn_sfr_weights`` ([τ, λ] each; required
    for the module they weigh), ``delete_same_entity`` (the path test), and ``use_rcs``/``use_sfr``, which
    here really switch a module off (in the authors' code they do nothing)."""

    @classmethod
    def method_keys(cls, clip_path: str | None = None, name_path: str | None = None, device=None,
                    arch: str = "wo_resi", attn_strategy: str = "resclip", gaussian_std: float = 5.0,
                    pamr_steps: int = 0, use_rcs: bool = True, use_sfr: bool = True, pamr_stride=(8, 16),
                    prob_thd: float = 0.0, area_thd: float | None = None, logit_scale: float = 40,
                    slide_stride: int = 112, slide_crop: int = 224, temp_thd: float | None = None,
                    attn_sfr_weights=None, attn_rcs_weights=None, delete_same_entity: bool = False,
                    model_name: str | None = None, **ours: Any) -> Keys:
        if arch not in ("wo_resi", "w_resi"):
            raise SettingError(f"arch={arch!r}: ResCLIP's arch must be 'wo_resi' or 'w_resi'")
        if attn_strategy not in RESCLIP_ATTENTION:
            raise SettingError(f"attn_strategy={attn_strategy!r}: ResCLIP's attn_strategy must be one of "
                               f"{', '.join(RESCLIP_ATTENTION)}")
        if area_thd is not None:
            raise SettingError(f"area_thd={area_thd!r}: ResCLIP has no area rule (its authors' code fails with "
                               "one); leave area_thd None")
        for key, value, needed in (("temp_thd", temp_thd, use_sfr), ("attn_sfr_weights", attn_sfr_weights, use_sfr),
                                   ("attn_rcs_weights", attn_rcs_weights, use_rcs)):
            if needed and value is None:
                raise SettingError(f"{key}: ResCLIP needs {key} (every config of its authors sets it, e.g. "
                                   "configs/resclip/cfg_voc21.py); without it their code fails at the first image")
        keep = arch == "w_resi"
        check_strategy(RESCLIP_ATTENTION[attn_strategy], keep)
        options = ResCLIPOptions(**{key: value for key, value in dict(
            use_rcs=use_rcs, use_sfr=use_sfr, temp_thd=temp_thd, delete_same_entity=delete_same_entity,
            attn_rcs_weights=attn_rcs_weights, attn_sfr_weights=attn_sfr_weights).items() if value is not None})
        last_block = dict(attention=RESCLIP_ATTENTION[attn_strategy], residual=keep, ffn=keep,
                          gaussian_std=gaussian_std, fuse_blocks=RCS_BLOCKS if use_rcs else (),
                          fuse_weight=options.attn_rcs_weights[1])
        return _baseline(name_path, model_name or clip_path or DEFAULT_WEIGHTS, device, pamr_steps=pamr_steps,
                         pamr_stride=pamr_stride, prob_thd=prob_thd, logit_scale=logit_scale,
                         slide_stride=slide_stride, slide_crop=slide_crop, renormalise=True,
                         whole_image_via_input=True, whole_image_pamr=True, last_block=last_block,
                         method_settings=options), ours

    def make_encoder(self, recipe: Recipe) -> ResCLIPEncoder:
        blocks = len(self.visual.transformer.resblocks)
        if any(b >= blocks for b in recipe.last_block.fuse_blocks):
            raise SettingError(f"use_rcs=True: RCS mixes the maps of blocks {RCS_BLOCKS}; a vision tower of {blocks} "
                               "blocks has too few (use_rcs=False, or a deeper CLIP)")
        return ResCLIPEncoder(recipe.method_settings, recipe.last_block, recipe.protocol.logit_scale)

    def set_classes(self, classes, auxiliary_texts=None, background=False) -> None:
        super().set_classes(classes, auxiliary_texts, background)
        self.encoder.query_features = self.query_features  # the first pass scores its crop against them

    def configure(self, **changes: Any) -> None:
        super().configure(**changes)
        self.encoder.logit_scale = self.protocol.logit_scale


def proxyclip_weights(clip_type: str | None, model_type: str | None) -> str:
    """The CLIP weights ProxyCLIP's ``clip_type`` (open_clip's pretrained tag, or here a checkpoint path) and
    ``model_type`` (open_clip's model name, ``/`` read as ``-``) pick."""
    if clip_type is None or model_type is None:
        missing = "clip_type" if clip_type is None else "model_type"
        raise SettingError(f"{missing}: ProxyCLIP needs clip_type and model_type (its configs give 'openai' and "
                           "'ViT-B/16'), or model_name=<any CLIP spelling>")
    if Path(str(clip_type)).expanduser().is_file():
        return str(clip_type)
    if clip_type == "openai" and model_type in OPENAI_NAMES:
        return model_type
    return f"{model_type.replace('/', '-')}:{clip_type}"


PROXYCLIP_VFMS = ("dino", "dinov2", "sam", "mae")  # the authors' switches; only DINO is built here


@MODELS.register_module(name="ProxyCLIPSegmentation")
class ProxyCLIPSegmentor(TrainingFreeSegmentor):
    """ProxyCLIP with its authors' keys: ``clip_type``/``model_type`` (CLIP's open_clip tag and model;
    ``clip_type`` may also be a checkpoint path), ``vfm_model`` (``'dino'``) with ``checkpoint`` (None: DINO
    ViT-B/8's release, downloaded once; or any :mod:`itaclip.vfm` spelling: a local DINO state dict, another
    DINO release, ``hf-hub:...``), ``beta``/``gamma`` (the proxy mask's threshold and scale),
    ``logit_scale``, ``prob_thd``, ``slide_crop``/``slide_stride``. ``model_name`` wins over the CLIP keys,
    ``vfm_name`` over ``checkpoint``."""

    uses_vfm = True

    @classmethod
    def method_keys(cls, clip_type: str | None = None, model_type: str | None = None, vfm_model: str | None = None,
                    name_path: str | None = None, checkpoint: str | None = None, device=None,
                    prob_thd: float = 0.0, logit_scale: float = 40, beta: float = 1.2, gamma: float = 3.0,
                    slide_stride: int = 112, slide_crop: int = 336, model_name: str | None = None,
                    **ours: Any) -> Keys:
        if vfm_model != "dino":
            what = "is not built here" if vfm_model in PROXYCLIP_VFMS else "is not one of ProxyCLIP's"
            raise SettingError(f"vfm_model={vfm_model!r}: ProxyCLIP's vfm_model {what}; use 'dino' (DINO ViT-S/B "
                               "with patch 8 or 16: checkpoint= a release name such as 'dino_vits8', or a file)")
        for key, value in (("beta", beta), ("gamma", gamma)):
            if not POSITIVE.test(value):
                raise SettingError(f"{key}={value!r}: ProxyCLIP's {key} must be {POSITIVE.what}")
        last_block = dict(attention="proxy", residual=False, ffn=False, proxy_beta=beta, proxy_gamma=gamma)
        return _baseline(name_path, model_name or proxyclip_weights(clip_type, model_type), device, pamr_steps=0,
                         prob_thd=prob_thd, logit_scale=logit_scale, slide_stride=slide_stride,
                         slide_crop=slide_crop, window_padding=True, padding_multiple=PROXYCLIP_PADDING,
                         name_separator="; ", vfm_name=checkpoint or "dino_vitb8", last_block=last_block), ours

    def make_encoder(self, recipe: Recipe) -> ProxyEncoder:
        return ProxyEncoder(recipe.last_block, VisionGuide(self.vfm.model, *clip_normalisation(self.clip.model)))


def resolved_recipe(model_cfg: dict) -> Recipe:
    """The typed recipe of a model config, whichever method's keys it uses (nothing is loaded)."""
    keys = {key: value for key, value in dict(model_cfg).items() if key != "type"}
    return MODELS.get(model_cfg.get("type", "ITACLIPSegmentor")).resolve(**keys)


def weights_name(model_cfg: dict) -> str:
    """The CLIP weights a model config asks for, whichever method's keys it uses (its resolved
    ``model_name``; nothing is loaded)."""
    return str(resolved_recipe(model_cfg).model_name)
