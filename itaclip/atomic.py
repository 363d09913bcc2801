"""Writing files whole or not at all.

Every file the project writes (downloaded weights, predictions, metrics,
generated texts) goes through :func:`atomic_write`: the data lands in a
temporary file beside the target and replaces it only once complete, so an
interruption or an error never leaves a half-written file under the real name.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; it becomes ``path`` when the block ends without error.

    The result gets the usual permissions (``0o666`` less the umask), not the
    temporary file's private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_writable(folder: str | os.PathLike) -> None:
    """Raise the ``OSError`` that writing into ``folder`` would meet, now, creating nothing: a file is made
    and removed in ``folder``, or in its nearest existing parent when it is still to be created."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{existing} is a file")
    with tempfile.TemporaryFile(dir=existing):
        pass
