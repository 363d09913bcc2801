"""Loading OpenAI CLIP weights with open_clip (paper section 1).

``model_name`` is either an OpenAI name (``'ViT-B/16'``, ``'ViT-B/32'``,
``'ViT-L/14'``, ``'ViT-L/14@336px'``), downloaded once into a cache folder, or a
path to an OpenAI-format checkpoint: the TorchScript archive OpenAI publishes,
or a plain ``state_dict`` (fp16 or fp32) of any size, whose shapes open_clip
reads from the keys (heads = width // 64).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import open_clip
import torch
from open_clip.pretrained import get_pretrained_url

from . import fetch
from .fetch import cache_dir  # noqa: F401  (where weights land; re-exported)

# The paper's spelling (OpenAI's `clip.load`) -> open_clip's architecture name.
OPENAI_NAMES = {
    "ViT-B/16": "ViT-B-16",
    "ViT-B/32": "ViT-B-32",
    "ViT-L/14": "ViT-L-14",
    "ViT-L/14@336px": "ViT-L-14-336",
}
PRECISIONS = ("fp32", "fp16", "bf16")
_LOADED: dict[tuple, torch.nn.Module] = {}


class WeightsError(RuntimeError):
    """CLIP weights could not be found, fetched or read (one-line message)."""


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


def resolve(model_name: str) -> Path:
    """Turn ``model_name`` into a local checkpoint path, downloading an OpenAI name if needed."""
    path = Path(model_name).expanduser()
    if path.is_file():
        return path
    if model_name in OPENAI_NAMES:
        url = get_pretrained_url(OPENAI_NAMES[model_name], "openai")
        try:
            return download(url, cache_dir())
        except WeightsError:
            raise
        except Exception as err:  # network errors come in many types
            raise WeightsError(
                f"could not download CLIP {model_name} from {url} ({fetch.reason(err)}); offline, fetch that "
                f"file elsewhere and pass its path as model_name, or put it in {cache_dir()}"
            ) from None
    raise WeightsError(
        f"model_name {model_name!r} is neither a file nor an OpenAI CLIP name "
        f"({', '.join(OPENAI_NAMES)}); pass one of those names or the path to a checkpoint"
    )


def load_clip(model_name: str = "ViT-B/16", device: str | torch.device = "cpu",
              precision: str | None = None) -> torch.nn.Module:
    """Build open_clip's CLIP with OpenAI weights, frozen, in eval mode, cached per process.

    The cache hands every caller the same model object: treat it as read-only.

    ``precision`` is ``fp32``, ``fp16`` (LayerNorm still computes in fp32, as in
    OpenAI's code) or ``bf16``; ``None`` means :func:`default_precision`.
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WeightsError(f"device {str(device)!r} was asked for but CUDA is not available here; use device='cpu'")
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise WeightsError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    path = resolve(model_name)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device), precision)
    if key not in _LOADED:
        try:
            with warnings.catch_warnings():  # open_clip tries TorchScript first; torch calls that deprecated
                warnings.simplefilter("ignore", FutureWarning)
                model = open_clip.load_openai_model(str(path), precision=precision, device=device)
        except Exception as err:
            raise WeightsError(
                f"{path} is not a readable OpenAI CLIP checkpoint ({type(err).__name__}: {fetch.reason(err)}); "
                "pass a TorchScript archive or a state_dict with OpenAI's key names"
            ) from None
        model.requires_grad_(False)
        _LOADED[key] = model.eval()
    return _LOADED[key]
