#!/usr/bin/env python
"""Download the paper's own LLM texts (Llama-3-8B-Instruct) and check their SHA-256.

The texts shipped in ``llm_texts/`` were written for this project and differ
from the paper's; an exact reproduction needs the files the authors published
with their code. Each file is checked against the digest recorded in
METHOD.md section 7 before it is put in place, so a changed or truncated
download never ends up where a config could read it. Standard library only.

Example::

    python scripts/fetch_paper_texts.py
    python eval.py --config cfg_voc21 --data-root data/VOCdevkit/VOC2012 \\
        --cfg-options model.auxiliary_text_path=llm_texts/paper/voc21_definitions.txt
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

COMMIT = "521a33c4f10760cd9a3a48beb432e92fac7838ab"
BASE_URL = f"https://raw.githubusercontent.com/m-arda-aydn/ITACLIP/{COMMIT}/llama_generated_texts"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "llm_texts" / "paper"
SHA256 = {  # METHOD.md section 7
    "voc21_definitions.txt": "d8f8413f656b849852e06ead43a8d28b23905585f97a0d075cfc7f0576ce5e83",
    "context60_definitions.txt": "8084d97548ab40e78a472250970056288748aff024093899193b28fdb119abc3",
    "coco_stuff_definitions.txt": "b5ec8b2a597ae079623c348438401e11b626b4e22a41353cb9e4a42cc2a521d8",
    "coco_object_synonyms.txt": "4814fb858fa19ef5b71cd87d3984e2607d02a0149c53f1b97e1752084a152cab",
    "cityscapes_synonyms.txt": "be2a6a10b6b570f2e2b2f212b252e59fedfe83742129e79253c4c5153d0c0a3a",
}
CHUNK = 1 << 16


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, url: str, target: Path, expected: str, timeout: float) -> None:
    """Download ``url`` to a temp file beside ``target``, verify, then move it in place; raise on any problem."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise ValueError(f"sha256 {digest.hexdigest()} does not match the expected {expected}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)  # already moved on success


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Download the ITACLIP authors' LLM texts (commit "
                    f"{COMMIT[:7]}) and verify each SHA-256 before writing it.",
        epilog="files: " + ", ".join(SHA256))
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT,
                        help=f"folder to write to (default {DEFAULT_OUT})")
    parser.add_argument("--only", action="append", choices=list(SHA256), metavar="NAME",
                        help="fetch only this file (repeatable); default all five")
    parser.add_argument("--base-url", default=BASE_URL, help="folder URL holding the files (default: the authors' "
                                                             "repository at the pinned commit)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.only or list(SHA256):
        target, url = args.out_dir / name, f"{args.base_url.rstrip('/')}/{name}"
        if target.is_file() and sha256_of(target) == SHA256[name]:
            print(f"{name}: already present and verified, skipped")
            continue
        try:
            fetch(name, url, target, SHA256[name], args.timeout)
        except Exception as err:  # one line per failed file, then go on with the others
            failed += 1
            reason = str(err).replace("\n", " ") or type(err).__name__
            print(f"error: {name} from {url}: {reason}; not written", file=sys.stderr)
            continue
        print(f"{name}: downloaded to {target}, sha256 verified")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
