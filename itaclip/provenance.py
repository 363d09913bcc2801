"""What produced a number: weights, texts, code, software and device, recorded beside every result.

``eval.py`` writes :func:`run_record` into ``metrics.json`` (and logs it when
the run starts); the ``itaclip`` command writes the weights and texts records
into each image's JSON. Digests identify the exact files: a name like
``ViT-B/16`` or ``voc21_definitions.txt`` does not.
"""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from . import fetch, llm_texts, vfm
from .weights import resolve

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("itaclip", "torch", "torchvision", "mmsegmentation", "mmengine", "mmcv", "mmcv-lite", "open_clip_torch")


def weights_record(model_name: str) -> dict:
    """The CLIP weights: the name given, the file it resolved to and that file's SHA-256."""
    path = resolve(model_name)
    return dict(model_name=str(model_name), path=str(path.resolve()), sha256=fetch.file_sha256(path))


def vfm_record(vfm_name: str) -> dict:
    """The second vision model's weights (ProxyCLIP's DINO): the name given, its file and that file's SHA-256
    (fetched on first use; DINO pins no digest, so this record is what identifies the file)."""
    path = vfm.resolve(vfm_name)
    return dict(vfm_name=str(vfm_name), path=str(path.resolve()), sha256=fetch.file_sha256(path))


def texts_record(reference) -> dict:
    """The LLM texts: ``source`` (paper, ours, none or file), reference, file and SHA-256.

    Resolving fetches a paper text on first use, so this also checks that
    the texts are there before any slow work starts.
    """
    if reference is None:
        return dict(source="none", reference=None, path=None, sha256=None)
    text, path = str(reference), llm_texts.resolve(reference)
    if text.startswith(llm_texts.PAPER):
        source = "paper"
    elif text.startswith(llm_texts.OURS) or path.resolve().parent == llm_texts.OURS_DIR:
        source = "ours"
    else:
        source = "file"
    record = dict(source=source, reference=text, path=str(path.resolve()), sha256=fetch.sha256_file(path))
    if source == "paper":
        record.update(repository=llm_texts.PAPER_REPOSITORY, commit=llm_texts.PAPER_COMMIT,
                      url=f"{llm_texts.base_url()}/{path.name}")
    return record


def git_record(folder: Path = REPO) -> dict | None:
    """Commit and whether the tree had changes, when the package runs from a git checkout."""
    if not (folder / ".git").exists():
        return None
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                                  check=True, timeout=30).stdout.strip()

        return dict(commit=git("rev-parse", "HEAD"), changed=bool(git("status", "--porcelain")))
    except (OSError, subprocess.SubprocessError):
        return None


def software_record() -> dict:
    """Python, this package (with its git state in a checkout) and the libraries that compute."""
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    versions["torch"] = torch.__version__  # with its build tag, e.g. 2.14.1+cu130
    return dict(python=sys.version.split()[0], packages=versions, cuda=torch.version.cuda, git=git_record())


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_record(device: str, precision: str) -> dict:
    return dict(device=str(device), name=device_name(device), precision=precision)
