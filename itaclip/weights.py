"""Loading OpenAI CLIP weights with open_clip (paper section 1).

``model_name`` is either an OpenAI name (``'ViT-B/16'``, ``'ViT-B/32'``,
``'ViT-L/14'``, ``'ViT-L/14@336px'``), downloaded once into a cache folder, or a
path to an OpenAI-format checkpoint: the TorchScript archive OpenAI publishes,
or a plain ``state_dict`` (fp16 or fp32) of any size, whose shapes open_clip
reads from the keys (heads = width // 64).
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
import warnings
from pathlib import Path

import open_clip
import torch
from open_clip.pretrained import get_pretrained_url

from .atomic import atomic_write

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


def cache_dir() -> Path:
    """Where downloaded weights live: ``$ITACLIP_CACHE``, else OpenAI's ``~/.cache/clip``."""
    return Path(os.environ.get("ITACLIP_CACHE") or Path.home() / ".cache" / "clip")


def default_precision(device: str | torch.device) -> str:
    """The paper's choice: fp16 on CUDA, fp32 elsewhere."""
    return "fp16" if torch.device(device).type == "cuda" else "fp32"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, folder: Path) -> Path:
    """Fetch ``url`` into ``folder`` once, atomically, checking the SHA-256 in OpenAI's URL.

    OpenAI's URLs read ``.../<sha256>/<file>.pt``; a cached file whose digest
    matches is reused, a partial download never lands under the final name.
    """
    target = folder / os.path.basename(url)
    expected = url.rstrip("/").split("/")[-2]
    if target.is_file() and _sha256(target) == expected:
        return target
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=60) as src:
        digest = hashlib.sha256()
        for block in iter(lambda: src.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
        if digest.hexdigest() != expected:
            raise WeightsError(f"downloaded {url} but its SHA-256 is {digest.hexdigest()}, not {expected}")
    return target


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
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise WeightsError(
                f"could not download CLIP {model_name} from {url} ({reason}); offline, fetch that "
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
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise WeightsError(
                f"{path} is not a readable OpenAI CLIP checkpoint ({type(err).__name__}: {reason}); "
                "pass a TorchScript archive or a state_dict with OpenAI's key names"
            ) from None
        model.requires_grad_(False)
        _LOADED[key] = model.eval()
    return _LOADED[key]
