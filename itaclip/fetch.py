"""Files fetched once and pinned by SHA-256: CLIP weights and the paper's LLM texts.

Everything downloaded lives under one cache folder, ``$ITACLIP_CACHE``, else
OpenAI's ``~/.cache/clip`` (so weights OpenAI's ``clip`` package already
fetched are found): weights at its top, other kinds in subfolders of their
own. A download streams into a temporary file beside its target, is checked
against its pinned digest (and its announced length), and only then takes
the target's name, so a changed, truncated or interrupted download never
lands where a run could read it.

Digests of local files for the record of what produced a number are
computed once per file and remembered by path, size and modification time
(:func:`file_sha256`): a memo for large unpinned files. A pinned file (the
paper's texts, OpenAI's weights) is hashed afresh the first time a process
uses it (:func:`has_digest`).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path

from .atomic import atomic_write

CHUNK = 1 << 20
DIGESTS_FILE = "file_sha256.json"  # path -> [size, mtime_ns, sha256], in the cache folder


class FetchError(RuntimeError):
    """A download failed or did not match its pinned digest (one-line message)."""


class WeightsError(RuntimeError):
    """CLIP weights could not be found, fetched or read (one-line message); defined here, with no
    torch, so that callers can catch it before the heavy stack loads (:mod:`itaclip.weights` raises it)."""


def cache_dir(subfolder: str | None = None) -> Path:
    """The cache folder (``$ITACLIP_CACHE``, else ``~/.cache/clip``), or a subfolder of it."""
    root = Path(os.environ.get("ITACLIP_CACHE") or Path.home() / ".cache" / "clip")
    return root / subfolder if subfolder else root


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a local file, computed once per file (remembered by path, size and mtime).

    Hashing a 600 MB checkpoint takes seconds; every later run that records
    it reads the remembered digest. The record lives in the cache folder; a
    missing, unreadable or read-only record only means computing again.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
    record_path = cache_dir() / DIGESTS_FILE
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            record = {}
    except (OSError, ValueError):
        record = {}
    entry = record.get(key)
    if isinstance(entry, list) and entry[:2] == stamp and len(entry) == 3:
        return entry[2]
    digest = sha256_file(path)
    record[key] = [*stamp, digest]
    try:
        with atomic_write(record_path, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=0)
    except OSError:
        pass  # a read-only cache: the digest is still right, just not remembered
    return digest


_VERIFIED: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, digest) hashed in this process


def has_digest(path: Path, sha256: str) -> bool:
    """Whether ``path`` has the pinned digest ``sha256``: hashed afresh the first time this process asks (the
    size+mtime memo of :func:`file_sha256` is not trusted for a pinned file: an edit that keeps both would
    pass it), then remembered for this process while size and mtime stay."""
    path = Path(path).resolve()
    stat = path.stat()
    seen = _VERIFIED.get(str(path))
    if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
        seen = (stat.st_size, stat.st_mtime_ns, sha256_file(path))
        _VERIFIED[str(path)] = seen
    return seen[2] == sha256


def download(url: str, target: Path, sha256: str | None, timeout: float = 60) -> Path:
    """Fetch ``url`` into ``target`` atomically, unless ``target`` already has digest ``sha256``.

    Raises :class:`FetchError` for a file that is short of its announced
    length or whose digest differs, and lets network errors through (their
    types are many; callers turn them into their own one-line messages).
    Nothing is left at ``target`` or beside it when it fails.

    ``sha256=None`` is for files their publisher does not pin (DINO's releases): any file at ``target`` is
    taken as it is (only a complete download can have landed there), and the run record states its digest.
    """
    if target.is_file() and (sha256 is None or has_digest(target, sha256)):
        return target
    new_folder = not target.parent.exists()
    try:
        with atomic_write(target) as out, urllib.request.urlopen(url, timeout=timeout) as src:
            digest, size = hashlib.sha256(), 0
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                digest.update(block)
                size += len(block)
            announced = src.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) != size:
                raise FetchError(f"download of {url} broke off after {size} of {announced} bytes")
            if sha256 is not None and digest.hexdigest() != sha256:
                raise FetchError(f"downloaded {url} but its SHA-256 is {digest.hexdigest()}, "
                                 f"not the pinned {sha256}")
    except BaseException:
        if new_folder and target.parent.is_dir() and not any(target.parent.iterdir()):
            target.parent.rmdir()  # leave the cache as it was
        raise
    return target


def reason(err: BaseException) -> str:
    """The first line of an error, or its type when it has no message: for one-line reports."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
