"""Where a config's LLM texts come from (paper sections 3 and 7): the paper's, ours, or none.

``auxiliary_text_path`` takes a file path or a reference:

* ``paper:<file>``: the texts the paper's authors published with their code
  (Llama-3-8B-Instruct), fetched once from their repository at a pinned
  commit into ``<cache>/paper_texts/`` and checked against the SHA-256 below
  before they land; later runs read the cache, offline.
  ``ITACLIP_PAPER_TEXTS_URL`` replaces the base URL (a mirror); the digests
  still apply.
* ``ours:<file>``: the texts shipped in this project's ``llm_texts/``,
  written for it following the paper's prompts.

:func:`switch` turns a config's reference into the other kind (or none), so
one short option (``--texts paper|ours|none``) chooses for any config.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import fetch
from .class_files import TextFileError
from .presets import shipped

PAPER_REPOSITORY = "m-arda-aydn/ITACLIP"
PAPER_COMMIT = "521a33c4f10760cd9a3a48beb432e92fac7838ab"
PAPER_BASE_URL = f"https://raw.githubusercontent.com/{PAPER_REPOSITORY}/{PAPER_COMMIT}/llama_generated_texts"
PAPER_SHA256 = {  # METHOD.md section 7
    "voc21_definitions.txt": "d8f8413f656b849852e06ead43a8d28b23905585f97a0d075cfc7f0576ce5e83",
    "context60_definitions.txt": "8084d97548ab40e78a472250970056288748aff024093899193b28fdb119abc3",
    "coco_stuff_definitions.txt": "b5ec8b2a597ae079623c348438401e11b626b4e22a41353cb9e4a42cc2a521d8",
    "coco_object_synonyms.txt": "4814fb858fa19ef5b71cd87d3984e2607d02a0149c53f1b97e1752084a152cab",
    "cityscapes_synonyms.txt": "be2a6a10b6b570f2e2b2f212b252e59fedfe83742129e79253c4c5153d0c0a3a",
}
URL_VARIABLE = "ITACLIP_PAPER_TEXTS_URL"
CACHE_SUBFOLDER = "paper_texts"
OURS_DIR = shipped("llm_texts")
CHOICES = ("paper", "ours", "none")
PAPER, OURS = "paper:", "ours:"
FETCH_SCRIPT = "python scripts/fetch_paper_texts.py"


class PaperTextsUnavailable(TextFileError):
    """A paper text is not cached and could not be fetched; says where to put it and how to do without.

    ``hint`` is how the interface in use picks this project's own texts
    (``--texts ours`` on the command line, ``texts="ours"`` in Python).
    """

    def __init__(self, name: str, target: Path, url: str, why: str, hint: str = "--texts ours"):
        self.name, self.target, self.url, self.why, self.hint = name, target, url, why, hint
        super().__init__(name)

    def __str__(self) -> str:
        return (f"the paper's LLM text {self.name} is not in the cache at {self.target} and could not be fetched "
                f"from {self.url} ({self.why}); on a machine with internet run '{FETCH_SCRIPT} --only {self.name} "
                f"--out-dir .' (or 'curl -fLO {self.url}') and copy the file to {self.target}, or run with this "
                f"project's own texts instead: {self.hint}")


def base_url() -> str:
    """The folder URL holding the paper's texts: ``$ITACLIP_PAPER_TEXTS_URL``, else the pinned commit's."""
    return (os.environ.get(URL_VARIABLE) or PAPER_BASE_URL).rstrip("/")


def paper_cache() -> Path:
    """Where fetched paper texts live: ``<cache>/paper_texts``."""
    return fetch.cache_dir(CACHE_SUBFOLDER)


def fetch_paper_text(name: str, timeout: float = 60) -> Path:
    """The cached, verified copy of the paper's file ``name``, downloading it on first use."""
    if name not in PAPER_SHA256:
        raise TextFileError(f"{PAPER}{name}: the paper published no such LLM text; "
                            f"its files are {', '.join(PAPER_SHA256)}")
    target, url = paper_cache() / name, f"{base_url()}/{name}"
    try:
        return fetch.download(url, target, PAPER_SHA256[name], timeout)
    except Exception as err:  # a digest mismatch or any of the many network errors
        raise PaperTextsUnavailable(name, target, url, fetch.reason(err)) from None


def resolve(reference: str | os.PathLike) -> Path:
    """The local file of ``auxiliary_text_path``: a ``paper:``/``ours:`` reference or a path."""
    text = str(reference)
    if text.startswith(PAPER):
        return fetch_paper_text(text[len(PAPER):])
    if text.startswith(OURS):
        path = OURS_DIR / text[len(OURS):]
        if not path.is_file():
            shipped = ", ".join(sorted(p.name for p in OURS_DIR.glob("*.txt")))
            raise TextFileError(f"{text}: no such file in {OURS_DIR}; shipped texts: {shipped}")
        return path
    path = Path(reference)
    if not path.is_file():
        raise TextFileError(f"auxiliary-text file {path} does not exist; set auxiliary_text_path to an existing "
                            f"file, or to {PAPER}<file> (the paper's texts) or {OURS}<file> (this project's)")
    return path


def switch(reference: str | os.PathLike | None, choice: str, option: str = "--texts ") -> str | None:
    """A config's text reference turned into ``choice``: ``paper``, ``ours`` or ``none``.

    ``paper:X`` and ``ours:X`` name the same data set's texts, so either
    becomes the other; a config reading a file of its own cannot be switched.
    ``option`` is how the user wrote the choice (``"--texts "``, ``"texts="``), for messages.
    """
    if choice not in CHOICES:
        raise ValueError(f"{option}{choice}: choose one of {', '.join(CHOICES)}")
    if choice == "none":
        return None
    text = "" if reference is None else str(reference)
    name = text.partition(":")[2] if text.startswith((PAPER, OURS)) else ""
    if not name:
        raise ValueError(f"{option}{choice}: the config reads {'no LLM texts' if not text else text}, not a "
                         f"'{PAPER}' or '{OURS}' reference; set auxiliary_text_path to the file you want instead")
    if choice == "paper" and name not in PAPER_SHA256:
        raise ValueError(f"{option}paper: the paper published no texts for this config ({text}); "
                         f"its files are {', '.join(PAPER_SHA256)}; use {option}ours or {option}none")
    return (PAPER if choice == "paper" else OURS) + name
