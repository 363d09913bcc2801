"""Time ``itaclip segment`` over a folder of images, with images read ahead of the model and without.

    python scripts/benchmark_collection.py --weights /path/ViT-B-16.pt --device cuda
    python scripts/benchmark_collection.py --weights tiny_clip_vit16.pt --device cpu --images 32

Writes ``--images`` JPEGs of ``--size`` (random content with flat bands, as photos compress) into a temporary
folder and runs the command on it once to build the model (kept by the process), then once per
``--workers`` value into a fresh output folder each time, timing the whole command (reading, segmenting,
writing the mask, the overlay and the JSON). Prints one JSON line: images per second for each value.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default="ViT-B/16", help="CLIP weights, as for itaclip segment")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--images", type=int, default=32, help="images in the folder (default 32)")
    p.add_argument("--size", type=int, nargs=2, default=(375, 500), metavar=("H", "W"), help="image size")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="--workers values to time (0: none)")
    p.add_argument("--preset", default="voc21", help="settings of this preset (default voc21)")
    args = p.parse_args(argv)
    if args.images < 1 or min(args.size) < 1 or min(args.workers) < 0:
        p.error("--images and --size must be 1 or more, --workers 0 or more")
    return args


def write_images(folder: Path, count: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        rgb = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        rgb[: size[0] // 2] = (40 + 5 * i % 200, 120, 200)
        Image.fromarray(rgb).save(folder / f"image{i:03d}.jpg", quality=90)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from itaclip import cli

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    common = ["--classes", "cat, dog, person", "--background", "wall, floor, sky", "--preset", args.preset,
              "--weights", args.weights, "--device", device]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        write_images(folder, args.images, tuple(args.size))
        cli.main(["segment", str(folder / "image000.jpg"), "--out", str(Path(tmp) / "warm"), *common])
        rates = {}
        for workers in args.workers:
            started = time.perf_counter()
            status = cli.main(["segment", str(folder), "--out", str(Path(tmp) / f"out{workers}"),
                               "--workers", str(workers), *common])
            seconds = time.perf_counter() - started
            if status != 0:
                raise SystemExit(f"itaclip segment ended with status {status}")
            rates[str(workers)] = round(args.images / seconds, 3)
    result = dict(date=datetime.date.today().isoformat(), device=device,
                  hardware=torch.cuda.get_device_name() if device.startswith("cuda") else
                  f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
                  weights=args.weights, preset=args.preset, images=args.images, size=list(args.size),
                  images_per_s_by_workers=rates)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
