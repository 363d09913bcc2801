"""Loading CLIP weights with open_clip (paper section 1), for any ViT that open_clip builds.

``model_name`` spellings:

* an OpenAI name (``'ViT-B/16'``, ``'ViT-B/32'``, ``'ViT-L/14'``,
  ``'ViT-L/14@336px'``), downloaded once into the cache folder and checked
  against the SHA-256 in OpenAI's URL, or a path to an OpenAI-format
  checkpoint (the TorchScript archive OpenAI publishes, or a plain
  ``state_dict`` of any size, whose shapes open_clip reads from the keys);
* ``ARCH:TAG``, any entry of ``open_clip.list_pretrained()`` (e.g.
  ``'ViT-B-16:laion2b_s34b_b88k'``), downloaded by open_clip's own code;
* ``ARCH:PATH``, a local open_clip state dict (``.bin``, ``.safetensors``,
  ``.pt``) of architecture ``ARCH``;
* ``hf-hub:ORG/NAME``, an open_clip model on the Hugging Face hub.

The architecture decides the activation (GELU, or QuickGELU for OpenAI's
weights and ``-quickgelu`` architectures), the tokenizer and context length.
Only vision towers made of open_clip's plain ViT blocks with a class token
can be changed the ITACLIP way; others are refused in one line, before any
download.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import open_clip
import torch
from open_clip.pretrained import get_pretrained_url

from . import fetch
from .fetch import WeightsError, cache_dir  # noqa: F401  (re-exported: where weights land, what fails)
from .settings import PRECISIONS

# The paper's spelling (OpenAI's `clip.load`) -> open_clip's architecture name.
OPENAI_NAMES = {
    "ViT-B/16": "ViT-B-16",
    "ViT-B/32": "ViT-B-32",
    "ViT-L/14": "ViT-L-14",
    "ViT-L/14@336px": "ViT-L-14-336",
}


@dataclass(frozen=True, eq=False)
class ClipModel:
    """A loaded CLIP and what this project remembers about it, kept beside the open_clip model (which is left
    as open_clip built it, and may be shared: treat ``model`` as read-only).

    ``name`` is the ``model_name`` as given, ``path`` the weights file, ``kind``
    how it was read (``openai:ViT-B-16``, ``tag:ViT-B-16``, ...), ``precision``
    ``fp32``/``fp16``/``bf16``, ``tokenizer`` the open_clip name whose tokenizer
    and context length go with it; ``text_cache`` holds this process's text
    embeddings (:func:`itaclip.text.embed_texts`; :meth:`forget_texts` empties it).
    """

    model: torch.nn.Module
    name: str
    path: Path
    kind: str
    precision: str
    tokenizer: str = "ViT-B-16"  # OpenAI's BPE, context 77, for all OpenAI weights
    text_cache: dict = field(default_factory=dict, repr=False)

    @property
    def visual(self) -> torch.nn.Module:
        return self.model.visual

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def forget_texts(self) -> None:
        """Empty this process's text embeddings (the disk cache stays)."""
        self.text_cache.clear()


_LOADED: dict[tuple, ClipModel] = {}


def default_precision(device: str | torch.device) -> str:
    """The paper's choice: fp16 on CUDA, fp32 elsewhere."""
    return "fp16" if torch.device(device).type == "cuda" else "fp32"


def download(url: str, folder: Path) -> Path:
    """Fetch ``url`` into ``folder`` once, checking the SHA-256 that OpenAI's URLs carry.

    OpenAI's URLs read ``.../<sha256>/<file>.pt``; a cached file whose digest
    matches is reused, a partial download never lands under the final name.
    """
    try:
        return fetch.download(url, folder / os.path.basename(url), url.rstrip("/").split("/")[-2])
    except fetch.FetchError as err:
        raise WeightsError(str(err)) from None


class Spelling(NamedTuple):
    """What ``model_name`` names: ``kind`` is ``openai`` (an OpenAI name or OpenAI-format file),
    ``tag`` (``ARCH:TAG``), ``file`` (``ARCH:PATH``) or ``hub`` (``hf-hub:ID``)."""

    kind: str
    arch: str | None
    ref: str


WEIGHT_SUFFIXES = (".bin", ".safetensors", ".pt", ".pth")


def parse(model_name: str) -> Spelling:
    """The spelling of ``model_name``, or a one-line :class:`WeightsError` listing the accepted ones."""
    text = str(model_name)
    if Path(text).expanduser().is_file() or text in OPENAI_NAMES:
        return Spelling("openai", OPENAI_NAMES.get(text), text)
    if text.startswith("hf-hub:"):
        return Spelling("hub", text, text)
    arch, sep, rest = text.partition(":")
    if sep and arch and rest:
        if rest == "openai" and arch in OPENAI_NAMES.values():  # OpenAI's own archive, through its own loader
            return Spelling("openai", arch, next(k for k, v in OPENAI_NAMES.items() if v == arch))
        looks_like_path = "/" in rest or "\\" in rest or rest.endswith(WEIGHT_SUFFIXES)
        return Spelling("file" if looks_like_path else "tag", arch, rest)
    raise WeightsError(
        f"model_name {text!r} is neither a file nor a known spelling; pass an OpenAI name "
        f"({', '.join(OPENAI_NAMES)}), a checkpoint path, ARCH:TAG from open_clip.list_pretrained() "
        "(e.g. ViT-B-16:laion2b_s34b_b88k), "
        "ARCH:/path/to/weights or hf-hub:ORG/NAME")


def refusal(arch: str, vision_cfg: dict) -> str | None:
    """Why a vision tower cannot take ITACLIP's changes (None when it can), from its open_clip config."""
    if isinstance(vision_cfg.get("layers"), (list, tuple)):
        return "its vision tower is a ResNet, not a ViT"
    if vision_cfg.get("timm_model_name"):
        return (f"its vision tower is timm's {vision_cfg['timm_model_name']} (e.g. SigLIP-style attention "
                "pooling), not open_clip's ViT")
    if vision_cfg.get("attentional_pool"):
        return "its ViT pools by attention (CoCa), without a class token"
    if vision_cfg.get("pool_type", "tok") != "tok" or vision_cfg.get("no_class_token"):
        return "its ViT has no class token to pool"
    custom = [key for key in ("block_type", "qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn",
                              "scale_attn_inner", "scale_fc") if vision_cfg.get(key)]
    if custom:
        return f"its ViT blocks are custom ({', '.join(custom)}), not CLIP's plain attention blocks"
    return None


def check_architecture(arch: str) -> None:
    """Refuse an unknown or unsuitable open_clip architecture, before anything is downloaded."""
    config = open_clip.get_model_config(arch)
    if config is None:
        raise WeightsError(f"model_name {arch}:...: open_clip knows no architecture {arch!r}; "
                           "see open_clip.list_models()")
    why = refusal(arch, config.get("vision_cfg", {}))
    if why:
        raise WeightsError(f"model_name {arch}:...: {arch} cannot be used: {why}; choose a ViT architecture")


def check_model(model: torch.nn.Module, model_name: str) -> None:
    """The same refusal for a built model (hf-hub configs and local files are only known once built)."""
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

    visual = model.visual
    why = None
    if not isinstance(visual, VisionTransformer):
        why = f"its vision tower is {type(visual).__name__}, not open_clip's ViT"
    elif getattr(visual, "attn_pool", None) is not None:
        why = "its ViT pools by attention (CoCa), without a class token"
    elif getattr(visual, "pool_type", "tok") != "tok":
        why = "its ViT has no class token to pool"
    elif not all(isinstance(b, ResidualAttentionBlock) and isinstance(b.attn, torch.nn.MultiheadAttention)
                 for b in visual.transformer.resblocks):
        why = "its ViT blocks are custom, not CLIP's plain attention blocks"
    if why:
        raise WeightsError(f"model_name {model_name}: {why}; choose a ViT architecture")


def open_clip_cache() -> str | None:
    """Where open_clip downloads to: ``$ITACLIP_CACHE/open_clip`` when that is set, else open_clip's default."""
    return str(cache_dir("open_clip")) if os.environ.get("ITACLIP_CACHE") else None


def _download_tag(arch: str, tag: str) -> Path:
    config = open_clip.get_pretrained_cfg(arch, tag)
    if not config:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise WeightsError(f"model_name {arch}:{tag}: open_clip has no weights tagged {tag!r} for {arch} "
                           f"(its tags: {tags}); or pass {arch}:/path/to/weights")
    where = config.get("hf_hub") or config.get("url")
    try:
        return Path(open_clip.download_pretrained(config, cache_dir=open_clip_cache()))
    except Exception as err:  # network errors come in many types
        hub = config.get("hf_hub", "")
        file = f"https://huggingface.co/{hub.rstrip('/')}/open_clip_pytorch_model.bin" if hub else where
        cache = open_clip_cache() or ("the Hugging Face cache" if hub else str(Path.home() / ".cache" / "clip"))
        raise WeightsError(
            f"could not download CLIP {arch}:{tag} ({fetch.reason(err)}); offline, fetch {file} elsewhere and "
            f"pass {arch}:/path/to/{Path(file).name}, or let open_clip cache it in {cache}") from None


def resolve(model_name: str) -> Path:
    """Turn ``model_name`` into a local checkpoint path, downloading it if needed."""
    spelling = parse(model_name)
    if spelling.kind == "openai":
        path = Path(spelling.ref).expanduser()
        if path.is_file():
            return path
        url = get_pretrained_url(OPENAI_NAMES[spelling.ref], "openai")
        try:
            return download(url, cache_dir())
        except WeightsError:
            raise
        except Exception as err:  # network errors come in many types
            raise WeightsError(
                f"could not download CLIP {spelling.ref} from {url} ({fetch.reason(err)}); offline, fetch that "
                f"file elsewhere and pass its path as model_name, or put it in {cache_dir()}"
            ) from None
    if spelling.kind == "hub":
        try:
            from open_clip.pretrained import download_pretrained_from_hf
            return Path(download_pretrained_from_hf(spelling.ref[len("hf-hub:"):], cache_dir=open_clip_cache()))
        except Exception as err:
            raise WeightsError(f"could not fetch {spelling.ref} ({fetch.reason(err)}); offline, pass "
                               "ARCH:/path/to/open_clip_pytorch_model.bin instead") from None
    check_architecture(spelling.arch)
    if spelling.kind == "tag":
        return _download_tag(spelling.arch, spelling.ref)
    path = Path(spelling.ref).expanduser()
    if not path.is_file():
        raise WeightsError(f"model_name {model_name}: no such file {path}; pass ARCH:/path/to/existing/weights")
    return path


def _build(spelling: Spelling, path: Path, device: torch.device, precision: str) -> torch.nn.Module:
    with warnings.catch_warnings():  # open_clip tries TorchScript first; torch calls that deprecated
        warnings.simplefilter("ignore", FutureWarning)
        if spelling.kind == "openai":
            return open_clip.load_openai_model(str(path), precision=precision, device=device)
        if spelling.kind == "hub":
            return open_clip.create_model(spelling.ref, precision=precision, device=device,
                                          cache_dir=open_clip_cache())
        quick_gelu = bool((open_clip.get_pretrained_cfg(spelling.arch, spelling.ref) or {}).get("quick_gelu")) \
            if spelling.kind == "tag" else False
        return open_clip.create_model(spelling.arch, pretrained=str(path), precision=precision, device=device,
                                      force_quick_gelu=quick_gelu)


def load_clip(model_name: str = "ViT-B/16", device: str | torch.device = "cpu",
              precision: str | None = None) -> ClipModel:
    """Build open_clip's CLIP with the named weights, frozen, in eval mode, cached per process.

    The cache hands every caller the same :class:`ClipModel`: treat its model as read-only.

    ``precision`` is ``fp32``, ``fp16`` (LayerNorm still computes in fp32, as in
    OpenAI's code) or ``bf16``; ``None`` means :func:`default_precision`.
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WeightsError(f"device {str(device)!r} was asked for but CUDA is not available here; use device='cpu'")
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise WeightsError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    spelling = parse(model_name)
    path = resolve(model_name)
    key = (spelling.kind, spelling.arch, str(path.resolve()), path.stat().st_mtime_ns, str(device), precision)
    if key not in _LOADED:
        try:
            model = _build(spelling, path, device, precision)
        except Exception as err:
            if spelling.kind == "openai":
                raise WeightsError(
                    f"{path} is not a readable OpenAI CLIP checkpoint ({type(err).__name__}: {fetch.reason(err)}); "
                    "pass a TorchScript archive or a state_dict with OpenAI's key names") from None
            raise WeightsError(f"{path} is not readable as open_clip {spelling.arch} weights "
                               f"({type(err).__name__}: {fetch.reason(err)}); check the architecture") from None
        check_model(model, str(model_name))
        model.requires_grad_(False)
        _LOADED[key] = ClipModel(model.eval(), str(model_name), path, f"{spelling.kind}:{spelling.arch}", precision,
                                 **({} if spelling.kind == "openai" else dict(tokenizer=spelling.arch)))
    return _LOADED[key]
