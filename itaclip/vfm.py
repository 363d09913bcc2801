"""Loading a second vision model (a VFM: vision foundation model) beside CLIP, for methods that are guided by
one (ProxyCLIP).

``vfm_name`` spellings:

* a DINO release by its hub name: ``dino_vits16``, ``dino_vits8``, ``dino_vitb16``, ``dino_vitb8`` (the
  checkpoints DINO's own ``torch.hub`` entries load), downloaded once into ``<cache>/dino/``;
* ``hf-hub:ORG/NAME``, a model on the Hugging Face hub in DINO's key layout, e.g.
  ``hf-hub:timm/vit_base_patch8_224.dino`` (its ``model.safetensors``);
* a local file in DINO's key layout (``.pth``/``.pt`` state dict, or ``.safetensors``), which works offline. A
  full DINO training checkpoint is read too (its ``teacher`` network, as DINO's own evaluation does).

DINO publishes no digests for its files, so none is pinned: a download lands only when complete (never under
its final name before that), and every run records the SHA-256 of the file it used
(:func:`itaclip.provenance.vfm_record`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import fetch
from .fetch import WeightsError, cache_dir
from .settings import PRECISIONS

if TYPE_CHECKING:  # torch and the model load when a model does: the command checks names without them
    import torch

    from .dino import DinoViT

DINO_URL = "https://dl.fbaipublicfiles.com/dino"
DINO_RELEASES = {  # hub name -> file under DINO_URL
    "dino_vits16": "dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth",
    "dino_vits8": "dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth",
    "dino_vitb16": "dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    "dino_vitb8": "dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth",
}
HUB_FILE = "model.safetensors"


class VFMError(WeightsError):
    """A second vision model could not be found, fetched or read (one-line message)."""


@dataclass(frozen=True, eq=False)
class VisionModel:
    """A loaded second vision model and what this project remembers about it (``model`` is shared between
    callers: treat it as read-only): ``name`` as given, ``path`` the weights file, ``precision``."""

    model: "DinoViT"
    name: str
    path: Path
    precision: str


_LOADED: dict[tuple, VisionModel] = {}


def dino_url(name: str) -> str:
    return f"{DINO_URL}/{DINO_RELEASES[name]}"


def check_name(vfm_name: str) -> None:
    """Refuse, in one :class:`VFMError` line, a ``vfm_name`` that is none of the spellings (no download)."""
    text = str(vfm_name)
    if not (Path(text).expanduser().is_file() or text in DINO_RELEASES or text.startswith("hf-hub:")):
        raise VFMError(f"vision model {text!r} is neither a file nor a known name; pass a DINO release "
                       f"({', '.join(DINO_RELEASES)}), hf-hub:ORG/NAME (e.g. hf-hub:timm/vit_base_patch8_224.dino) "
                       "or the path of a DINO-layout state dict")


def resolve(vfm_name: str) -> Path:
    """Turn ``vfm_name`` into a local weights file, downloading it once if needed (a one-line
    :class:`VFMError` otherwise)."""
    check_name(vfm_name)
    text = str(vfm_name)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if text in DINO_RELEASES:
        url = dino_url(text)
        try:
            return fetch.download(url, cache_dir("dino") / Path(url).name, None)
        except Exception as err:  # network errors come in many types
            raise VFMError(f"could not download DINO {text} from {url} ({fetch.reason(err)}); offline, fetch that "
                           f"file elsewhere and pass its path instead of {text!r}, or put it in "
                           f"{cache_dir('dino')}") from None
    repo = text[len("hf-hub:"):]
    try:
        from huggingface_hub import hf_hub_download

        own_cache = str(cache_dir("hf")) if os.environ.get("ITACLIP_CACHE") else None  # else the hub's own
        return Path(hf_hub_download(repo, HUB_FILE, cache_dir=own_cache))
    except Exception as err:
        raise VFMError(f"could not fetch {HUB_FILE} of {text} ({fetch.reason(err)}); offline, pass the path of "
                       "a local copy instead") from None


def read_state(path: Path) -> "dict[str, torch.Tensor]":
    """The DINO-layout state dict in a file: a plain state dict, safetensors, or a DINO training checkpoint
    (its ``teacher``, ``module.``/``backbone.`` prefixes removed, the projection head dropped)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("teacher"), dict):
        state = {key.removeprefix("module.").removeprefix("backbone."): value
                 for key, value in state["teacher"].items() if not key.removeprefix("module.").startswith("head.")}
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a state dict")
    return state


def load_vfm(vfm_name: str, device: "str | torch.device" = "cpu", precision: str = "fp32") -> VisionModel:
    """The second vision model ``vfm_name`` names, frozen, in eval mode, in ``precision`` (all of it, as
    ProxyCLIP's code casts DINO with ``.half()``), cached per process."""
    import torch

    from .dino import DinoViT

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in PRECISIONS:
        raise VFMError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    path = resolve(vfm_name)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device), precision)
    if key not in _LOADED:
        try:
            model = DinoViT(read_state(path))
        except Exception as err:
            raise VFMError(f"{path} is not readable as a DINO ViT ({fetch.reason(err)}); pass a DINO release "
                           f"({', '.join(DINO_RELEASES)}) or a state dict in its key layout") from None
        _LOADED[key] = VisionModel(model.to(device=device, dtype=dtypes[precision]).eval(), str(vfm_name), path,
                                   precision)
    return _LOADED[key]
