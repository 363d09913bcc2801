#!/usr/bin/env python
"""Fetch the paper's own LLM texts (Llama-3-8B-Instruct) ahead of time, each checked by SHA-256.

The paper's configs read these texts (``auxiliary_text_path='paper:<file>'``)
and fetch each one on first use; this fills the cache beforehand (say,
before a run on machines without internet), or writes the files into a
folder of your choice to copy elsewhere. The pin table and the download code
are the package's (:mod:`itaclip.llm_texts`), so a file that lands here is
exactly what a run would accept.

Examples::

    python scripts/fetch_paper_texts.py                       # all five, into the cache
    python scripts/fetch_paper_texts.py --only voc21_definitions.txt --out-dir .
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from itaclip import fetch, llm_texts  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Download the ITACLIP authors' LLM texts (commit "
                    f"{llm_texts.PAPER_COMMIT[:7]}) and verify each SHA-256 before writing it.",
        epilog="files: " + ", ".join(llm_texts.PAPER_SHA256))
    parser.add_argument("--out-dir", type=Path, default=None,
                        help=f"folder to write to (default: the cache runs read, {llm_texts.paper_cache()})")
    parser.add_argument("--only", action="append", choices=list(llm_texts.PAPER_SHA256), metavar="NAME",
                        help="fetch only this file (repeatable); default all five")
    parser.add_argument("--base-url", default=None,
                        help=f"folder URL holding the files (default: ${llm_texts.URL_VARIABLE}, else the "
                             "authors' repository at the pinned commit)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or llm_texts.paper_cache()
    base = (args.base_url or llm_texts.base_url()).rstrip("/")
    failed = 0
    for name in args.only or list(llm_texts.PAPER_SHA256):
        target, url, pinned = out_dir / name, f"{base}/{name}", llm_texts.PAPER_SHA256[name]
        if target.is_file() and fetch.sha256_file(target) == pinned:
            print(f"{name}: already present and verified, skipped")
            continue
        try:
            fetch.download(url, target, pinned, args.timeout)
        except Exception as err:  # one line per failed file, then go on with the others
            failed += 1
            print(f"error: {name} from {url}: {fetch.reason(err)}; not written", file=sys.stderr)
            continue
        print(f"{name}: downloaded to {target}, sha256 verified")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
