"""The other training-free CLIP segmenters: a last-block recipe and a protocol each, over one segmentor.

Each is registered in mmseg's ``MODELS`` under its authors' type name with
its authors' constructor keys and defaults, so their configs build
unchanged; each also takes this project's keys (``model_name``, which wins
over the authors' weights keys, ``precision``, ``memory_budget_mb``,
``sequential``, ``classes``, ``last_block``, ...). They differ from ITACLIP
only in what their authors' code computes differently: no image views, no
LLM texts, their last block (:class:`~itaclip.backbone.LastBlock`), and a
few protocol switches of :class:`~itaclip.segmentor.ITACLIPSegmentor`.

============================  =============================================================================
``CLIPForSegmentation``       SCLIP (Wang et al., ECCV 2024): q·q + k·k attention (CSA), residual and
                              feed-forward kept; no closing; PAMR off unless asked (sliding path only)
``NACLIP``                    NACLIP (Hajimiri et al., WACV 2025): k·k attention plus a Gaussian
                              neighbourhood bias, no residual, no feed-forward; PAMR on both paths;
                              class probabilities renormalised; no closing
``ClearCLIPSegmentation``     ClearCLIP (Lan et al., ECCV 2024): q·q attention, no residual, no
                              feed-forward; windows padded to whole patches; no PAMR, no closing;
                              class lines split on a bare ","
============================  =============================================================================
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)
from mmseg.registry import MODELS

from .segmentor import ITACLIPSegmentor

DEFAULT_WEIGHTS = "ViT-B/16"


def _init(model: ITACLIPSegmentor, method: dict, ours: dict) -> None:
    """Build ``model`` with a method's settings; the user's own keys win, ``last_block`` field by field."""
    last_block = {**method.pop("last_block"), **(ours.pop("last_block", None) or {})}
    ITACLIPSegmentor.__init__(model, **{**method, **ours}, last_block=last_block)


@MODELS.register_module(name="CLIPForSegmentation")
class SCLIPSegmentor(ITACLIPSegmentor):
    """SCLIP with its authors' keys; ``csa=False`` (an extension) gives the plain q·k last block."""

    def __init__(self, clip_path: str | None = None, name_path: str | None = None, device=None,
                 pamr_steps: int = 0, pamr_stride=(8, 16), prob_thd: float = 0.0, logit_scale: float = 40,
                 slide_stride: int = 112, slide_crop: int = 224, area_thd: float | None = None, csa: bool = True,
                 model_name: str | None = None, **ours):
        last_block = dict(attention="qq+kk" if csa else "qk", residual=True, ffn=True, fuse_blocks=())
        _init(self, dict(name_path=name_path, model_name=model_name or clip_path or DEFAULT_WEIGHTS, device=device,
                         img_engineering=False, pamr_steps=pamr_steps, pamr_stride=pamr_stride, prob_thd=prob_thd,
                         logit_scale=logit_scale, slide_stride=slide_stride, slide_crop=slide_crop,
                         area_thd=area_thd, closing=False, last_block=last_block), ours)


NACLIP_ATTENTION = {"naclip": "kk+gaussian", "nonly": "gaussian", "kk": "kk", "csa": "qq+kk", "vanilla": "qk"}


@MODELS.register_module(name="NACLIP")
class NACLIPSegmentor(ITACLIPSegmentor):
    """NACLIP with its authors' keys: ``arch`` ('reduced' drops the last block's residual and
    feed-forward, 'vanilla' keeps both), ``attn_strategy`` and ``gaussian_std``."""

    def __init__(self, clip_path: str | None = None, name_path: str | None = None, device=None,
                 arch: str = "reduced", attn_strategy: str = "naclip", gaussian_std: float = 5.0,
                 pamr_steps: int = 10, pamr_stride=(8, 16), prob_thd: float = 0.0, logit_scale: float = 40,
                 slide_stride: int = 112, slide_crop: int = 224, model_name: str | None = None, **ours):
        if arch not in ("reduced", "vanilla"):
            raise ValueError(f"NACLIP arch {arch!r}: choose 'reduced' or 'vanilla'")
        if attn_strategy not in NACLIP_ATTENTION:
            raise ValueError(f"NACLIP attn_strategy {attn_strategy!r}: choose one of {', '.join(NACLIP_ATTENTION)}")
        if attn_strategy == "csa" and arch != "vanilla":
            raise ValueError("NACLIP attn_strategy 'csa' needs arch='vanilla', as in its authors' code")
        keep = arch == "vanilla"
        last_block = dict(attention=NACLIP_ATTENTION[attn_strategy], residual=keep, ffn=keep, fuse_blocks=(),
                          gaussian_std=gaussian_std)
        _init(self, dict(name_path=name_path, model_name=model_name or clip_path or DEFAULT_WEIGHTS, device=device,
                         img_engineering=False, pamr_steps=pamr_steps, pamr_stride=pamr_stride, prob_thd=prob_thd,
                         logit_scale=logit_scale, slide_stride=slide_stride, slide_crop=slide_crop, closing=False,
                         renormalise=True, whole_image_via_input=True, whole_image_pamr=True,
                         last_block=last_block), ours)


CLEARCLIP_ATTENTION = {"vanilla": "qk", "ClearCLIP": "qq", "SCLIP": "qq+kk", "MaskCLIP": "identity"}


def clearclip_weights(clip_type: str, vit_type: str) -> str:
    """The OpenAI weights ClearCLIP's ``clip_type``/``vit_type`` pick (its other families need ``model_name``)."""
    if clip_type != "CLIP":
        raise ValueError(f"ClearCLIP clip_type {clip_type!r}: only OpenAI's 'CLIP' weights are built in; "
                         "pass model_name=<checkpoint> for other weights")
    if "B" in vit_type:
        return "ViT-B/16"
    if "L" in vit_type:
        return "ViT-L/14"
    raise ValueError(f"ClearCLIP vit_type {vit_type!r} names neither a B nor an L model; use 'ViT-B/16'")


@MODELS.register_module(name="ClearCLIPSegmentation")
class ClearCLIPSegmentor(ITACLIPSegmentor):
    """ClearCLIP with its authors' keys: ``model_type`` picks the last block's attention ('ClearCLIP'
    q·q, 'vanilla' q·k, 'SCLIP' q·q + k·k, 'MaskCLIP' identity); ``ignore_residual`` drops its
    residual and feed-forward. ``clip_type``/``vit_type`` pick OpenAI weights; ``model_name`` any file."""

    def __init__(self, clip_type: str = "CLIP", vit_type: str = "ViT-B/16", model_type: str = "ClearCLIP",
                 name_path: str | None = None, device=None, ignore_residual: bool = True, prob_thd: float = 0.0,
                 logit_scale: float = 50, slide_stride: int = 224, slide_crop: int = 448,
                 model_name: str | None = None, **ours):
        if model_type not in CLEARCLIP_ATTENTION:
            raise ValueError(f"ClearCLIP model_type {model_type!r}: choose one of {', '.join(CLEARCLIP_ATTENTION)} "
                             "(GEM is not implemented here)")
        last_block = dict(attention=CLEARCLIP_ATTENTION[model_type], residual=not ignore_residual,
                          ffn=not ignore_residual, fuse_blocks=())
        _init(self, dict(name_path=name_path, model_name=model_name or clearclip_weights(clip_type, vit_type),
                         device=device, img_engineering=False, pamr_steps=0, prob_thd=prob_thd,
                         logit_scale=logit_scale, slide_stride=slide_stride, slide_crop=slide_crop, closing=False,
                         window_padding=True, name_separator=",", last_block=last_block), ours)


def weights_name(model_cfg: dict) -> str:
    """The CLIP weights a model config asks for, whichever method's keys it uses."""
    if model_cfg.get("model_name"):
        return str(model_cfg["model_name"])
    if model_cfg.get("clip_path"):
        return str(model_cfg["clip_path"])
    if model_cfg.get("type") == "ClearCLIPSegmentation":
        return clearclip_weights(model_cfg.get("clip_type", "CLIP"), model_cfg.get("vit_type", "ViT-B/16"))
    return DEFAULT_WEIGHTS
