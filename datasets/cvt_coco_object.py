"""Make COCO-Object labels (81 classes) from COCO-Stuff's raw label PNGs.

COCO-Object is not distributed as such: its labels are derived from the raw
``stuffthingmaps_trainval2017`` PNGs of COCO-Stuff 164k, whose pixel values
are the raw COCO ids 0-181 (255 = unlabelled). Raw ids 0-90, except the
eleven ids COCO left unused ({11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}),
are the 80 thing classes in order and become 1..80; every other value (stuff
91-181, unlabelled 255) becomes 0, the background.

Usage::

    python datasets/cvt_coco_object.py COCO_STUFF_ROOT [--out-dir DIR]
        [--split val2017|train2017] [--nproc N] [--force]

reads ``<root>/annotations/<split>/*.png`` (except ``*_labelTrainIds.png``
and ``*_instanceTrainIds.png``) and writes ``<name>_instanceTrainIds.png``
beside each (or in ``--out-dir``). Outputs newer than their source are kept,
so a rerun only converts what is missing or stale.

Only numpy and Pillow are needed; the output is a single-channel uint8 PNG
that mmseg's ``LoadAnnotations`` reads with either image backend.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

UNUSED_THING_IDS = frozenset({11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90})
THING_IDS: tuple[int, ...] = tuple(i for i in range(91) if i not in UNUSED_THING_IDS)
OUT_SUFFIX = "_instanceTrainIds.png"
DERIVED_SUFFIXES = ("_labelTrainIds.png", OUT_SUFFIX)


def _build_lut() -> np.ndarray:
    """256-entry table: raw id -> COCO-Object id (0 for anything that is not a thing)."""
    assert len(THING_IDS) == 80, len(THING_IDS)
    lut = np.zeros(256, dtype=np.uint8)
    lut[list(THING_IDS)] = np.arange(1, 81, dtype=np.uint8)
    return lut


LUT = _build_lut()


def convert_labels(raw: np.ndarray) -> np.ndarray:
    """Map a raw COCO-Stuff label array (values 0..255) to COCO-Object ids (uint8)."""
    raw = np.asarray(raw)
    if raw.dtype != np.uint8:
        if raw.size and (raw.min() < 0 or raw.max() > 255):
            raise ValueError(f"raw labels must lie in 0..255, got {raw.min()}..{raw.max()}")
        raw = raw.astype(np.uint8)
    return LUT[raw]


def output_path(src: Path, out_dir: Path | None) -> Path:
    """Where the COCO-Object label for ``src`` goes."""
    return (out_dir or src.parent) / (src.stem + OUT_SUFFIX)


def find_inputs(folder: Path) -> list[Path]:
    """Raw label PNGs in ``folder``, leaving out the maps converters derive from them."""
    return sorted(p for p in folder.glob("*.png") if not p.name.endswith(DERIVED_SUFFIXES))


def is_up_to_date(src: Path, dst: Path) -> bool:
    """True when ``dst`` exists and is not older than ``src``."""
    return dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime


def convert_file(job: tuple[str, str]) -> str:
    """Convert one PNG, writing through a temp file so a crash never leaves half a label."""
    src, dst = map(Path, job)
    with Image.open(src) as img:
        if img.mode not in ("L", "P"):
            raise ValueError(f"{src}: expected a single-channel label PNG, got mode {img.mode}")
        raw = np.array(img)
    out = Image.fromarray(convert_labels(raw))  # 2-D uint8 -> mode "L"
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            out.save(fh, format="PNG")
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(dst)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert COCO-Stuff raw label PNGs to COCO-Object labels.")
    parser.add_argument("root", type=Path, help="COCO-Stuff root (holds annotations/<split>/)")
    parser.add_argument("--out-dir", type=Path, default=None, help="write here instead of beside the inputs")
    parser.add_argument("--split", default="val2017", choices=("val2017", "train2017"))
    parser.add_argument("--nproc", type=int, default=min(8, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--force", action="store_true", help="convert again even if outputs are up to date")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    folder = args.root / "annotations" / args.split
    sources = find_inputs(folder) if folder.is_dir() else []
    if not sources:
        print(f"error: no raw COCO-Stuff label PNGs found in {folder}", file=sys.stderr)
        return 1
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)

    jobs = [(str(s), str(output_path(s, args.out_dir))) for s in sources]
    if not args.force:
        jobs = [j for j in jobs if not is_up_to_date(Path(j[0]), Path(j[1]))]
    skipped = len(sources) - len(jobs)

    total = len(jobs)
    if total:
        nproc = max(1, min(args.nproc, total))
        try:
            with Pool(nproc) as pool:
                for done, _ in enumerate(pool.imap_unordered(convert_file, jobs, chunksize=16), 1):
                    if done == total or done % 100 == 0:
                        print(f"\rconverting: {done}/{total}", end="", file=sys.stderr, flush=True)
        except (OSError, ValueError) as err:  # unreadable or non-label PNG: say which, briefly
            print(f"\nerror: {err}", file=sys.stderr)
            return 1
        print(file=sys.stderr)
    out = args.out_dir or folder
    print(f"converted {total}, skipped {skipped} up to date, into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
