"""Time ITACLIP's batched path against the paper's order of computation.

    python scripts/benchmark.py --random-weights --device cuda
    python scripts/benchmark.py --random-weights --random-vfm --config configs/proxyclip/cfg_voc21.py \\
        --input-size 336 448
    python scripts/benchmark.py --weights /path/ViT-B-16.pt --config configs/cfg_coco_stuff164k.py \\
        --input-size 448 597 --ori-size 480 640
    # a 48-megapixel photo, 171 classes: the full-size stages in tiles, peak memory
    python scripts/benchmark.py --random-weights --device cpu --config configs/cfg_coco_stuff164k.py \\
        --input-size 448 597 --ori-size 6000 8000 --images 1 --warmup 0 --sequential-images 0

For one config, image size and weights it times ``predict`` over N images
after a warm-up, on the batched path (the default) and on the sequential
path (one forward pass per window and view, PAMR by dilated convolutions:
the paper's order), and prints one JSON line: device, precision, seconds per
image, images per second and peak memory of each path, their ratio, and how
many pixels' labels agree between them on the same images; also the model's
build time, cold (weights loaded, texts embedded, into a fresh text cache)
and warm (texts read back from that cache). Speed does not
depend on the weights' values, so ``--random-weights`` builds a randomly
initialised CLIP of the right shape (ViT-B/16 by default), and
``--random-vfm`` a random DINO (ViT-B/8 by default) for methods with a
second vision model (ProxyCLIP), whose share of the time is reported under
``vfm``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RANDOM_DINO = {"dino_vits16": (16, 384), "dino_vits8": (8, 384), "dino_vitb16": (16, 768), "dino_vitb8": (8, 768)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "configs" / "cfg_voc21.py"),
                   help="config whose model settings to time, of any method (e.g. configs/naclip/cfg_voc21.py)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--weights", default="ViT-B/16", help="OpenAI CLIP name or checkpoint path")
    weights.add_argument("--random-weights", metavar="ARCH", nargs="?", const="ViT-B-16",
                         help="random weights of an open_clip architecture (default ViT-B-16)")
    vfm = p.add_mutually_exclusive_group()
    vfm.add_argument("--vfm-weights", help="the second vision model of methods that have one (ProxyCLIP): a DINO "
                     "release name or state-dict path (default: the config's)")
    vfm.add_argument("--random-vfm", metavar="NAME", nargs="?", const="dino_vitb8", choices=sorted(RANDOM_DINO),
                     help="random weights of a DINO release's shape (default dino_vitb8)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="default: fp16 on CUDA, fp32 on CPU")
    p.add_argument("--input-size", type=int, nargs=2, default=(336, 448), metavar=("H", "W"),
                   help="network input (after the config's Resize); default VOC-like 336 448")
    p.add_argument("--ori-size", type=int, nargs=2, default=(375, 500), metavar=("H", "W"),
                   help="original image size, where masks are returned; default 375 500")
    p.add_argument("--images", type=int, default=10, help="images timed on the batched path")
    p.add_argument("--sequential-images", type=int, default=2, help="images timed on the sequential path (0: skip)")
    p.add_argument("--warmup", type=int, default=1, help="untimed images first, on each path")
    p.add_argument("--no-texts", action="store_true",
                   help="leave out the config's LLM texts (by default this project's shipped ones, offline: "
                        "the paper's cost the same)")
    p.add_argument("--compile", action="store_true", help="torch.compile the vision forward of the batched path")
    p.add_argument("--tile-budget-mb", type=float,
                   help="memory one tile of the full-size stages may use (default: the model's)")
    args = p.parse_args(argv)
    if min(args.input_size) < 1 or min(args.ori_size) < 1:
        p.error("--input-size and --ori-size take two sizes of 1 pixel or more, e.g. --input-size 336 448")
    if args.images < 1 or args.warmup < 0 or args.sequential_images < 0:
        p.error("--images must be 1 or more, --warmup and --sequential-images 0 or more")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here; use --device cpu")
    if args.config and not Path(args.config).is_file():
        p.error(f"--config {args.config}: no such file")
    return args


def random_dino(name: str, folder: Path) -> str:
    """Path of a state dict in DINO's layout with random weights of the release ``name``'s shape."""
    from timm.models.vision_transformer import VisionTransformer

    patch, width = RANDOM_DINO[name]
    model = VisionTransformer(img_size=224, patch_size=patch, embed_dim=width, depth=12, num_heads=width // 64,
                              num_classes=0, global_pool="")
    path = folder / f"random_{name}.pth"
    torch.save(model.state_dict(), path)
    return str(path)


def random_checkpoint(arch: str, folder: Path) -> str:
    """``ARCH:PATH`` of an fp16 state dict of a randomly initialised open_clip model (same cost as real weights)."""
    import open_clip

    from itaclip.weights import check_architecture

    check_architecture(arch)  # a ResNet, an unknown name: refused in one line before anything is built

    model = open_clip.create_model(arch, pretrained=None)
    path = folder / f"random_{arch}.pt"
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    return f"{arch}:{path}"


def build(args, model_name: str, sequential: bool, vfm_name: str | None = None):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from itaclip import llm_texts  # registers the model too

    cfg = Config.fromfile(args.config)
    cfg.model.update(model_name=model_name, device=args.device, precision=args.precision,
                     sequential=sequential, compile=args.compile and not sequential)
    if vfm_name is not None:
        cfg.model.vfm_name = vfm_name
    if args.tile_budget_mb is not None:
        cfg.model.tile_budget_mb = args.tile_budget_mb
    texts = cfg.model.get("auxiliary_text_path")
    if args.no_texts or texts is None:
        cfg.model.auxiliary_text_path = None
    elif str(texts).startswith((llm_texts.PAPER, llm_texts.OURS)):  # speed does not depend on whose: no network
        cfg.model.auxiliary_text_path = llm_texts.switch(texts, "ours")
    init_default_scope("mmseg")
    return MODELS.build(cfg.model).eval(), cfg.model.auxiliary_text_path is not None


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(model, images, args) -> tuple[float, list, float]:
    """Seconds per image over ``images`` after the warm-up, the outputs, and peak memory (MiB)."""
    from mmseg.structures import SegDataSample

    def sample():
        return [SegDataSample(metainfo=dict(ori_shape=tuple(args.ori_size), img_shape=tuple(args.input_size),
                                            pad_shape=tuple(args.input_size)))]

    for image in images[:args.warmup]:
        model.predict(image[None], sample())
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    outputs = []
    sync(args.device)
    start = time.perf_counter()
    for image in images[args.warmup:]:
        outputs.append(model.predict(image[None], sample())[0])
    sync(args.device)
    seconds = (time.perf_counter() - start) / max(1, len(outputs))
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS, Linux KiB
    return seconds, outputs, peak


def vfm_time(model, images, args) -> float:
    """Seconds per image the second vision model takes on the batched path (its forward timed with a device
    synchronisation on each side, over one more pass of the timed images)."""
    guide = model.encoder.guide
    spent = [0.0]
    forward = guide.forward

    def timed(batch):
        sync(args.device)
        start = time.perf_counter()
        out = forward(batch)
        sync(args.device)
        spent[0] += time.perf_counter() - start
        return out

    guide.forward = timed
    try:
        run(model, images, args)
    finally:
        del guide.forward
    return spent[0] / max(1, len(images) - args.warmup)


def config_name(path: str) -> str:
    """``cfg_voc21.py``, ``sclip/cfg_voc21.py``: the config's place under configs/ (else its file name)."""
    try:
        return Path(path).resolve().relative_to(REPO / "configs").as_posix()
    except ValueError:
        return Path(path).name


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def main(argv=None) -> dict:
    args = parse_args(argv)
    from itaclip.fetch import WeightsError
    from itaclip.settings import SettingError

    try:
        return measure(args)
    except (WeightsError, SettingError) as err:  # bad weights or settings: one line, as the command says it
        raise SystemExit(f"benchmark.py: {err}") from None


def measure(args: argparse.Namespace) -> dict:
    from itaclip import tiles

    generator = torch.Generator().manual_seed(0)
    count = args.warmup + max(args.images, args.sequential_images)
    images = torch.randn(count, 3, *args.input_size, generator=generator).to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        weights = random_checkpoint(args.random_weights, Path(tmp)) if args.random_weights else args.weights
        vfm_name = random_dino(args.random_vfm, Path(tmp)) if args.random_vfm else args.vfm_weights
        os.environ["ITACLIP_TEXT_CACHE"] = str(Path(tmp) / "text_embeddings")  # cold; the user's cache untouched
        started = time.perf_counter()
        fast, with_texts = build(args, weights, sequential=False, vfm_name=vfm_name)
        build_cold = time.perf_counter() - started
        fast.clip.forget_texts()  # texts again, now from the disk cache
        started = time.perf_counter()
        fast, with_texts = build(args, weights, sequential=False, vfm_name=vfm_name)
        build_warm = time.perf_counter() - started
        fast_s, fast_out, fast_peak = run(fast, images[:args.warmup + args.images], args)
        result = dict(
            date=datetime.date.today().isoformat(), device=device_name(args.device),
            precision=args.precision or ("fp16" if args.device.startswith("cuda") else "fp32"),
            config=config_name(args.config), method=type(fast).__name__,
            weights=args.random_weights and f"random {args.random_weights}" or args.weights, llm_texts=with_texts,
            queries=int(fast.query_idx.numel()), classes=fast.num_classes, input_size=list(args.input_size),
            ori_size=list(args.ori_size), compile=args.compile,
            tiles=len(tiles.plan(tuple(args.ori_size), fast.full_size_settings())),
            tile_budget_mib=round(fast.full_size_settings().budget / 2**20),
            build_s=dict(cold=round(build_cold, 2), warm=round(build_warm, 2)),
            batched=dict(images=len(fast_out), s_per_image=round(fast_s, 4), images_per_s=round(1 / fast_s, 3),
                         peak_memory_mib=round(fast_peak, 1)),
            memory="CUDA max allocated" if args.device.startswith("cuda") else "process peak RSS (CPU)",
        )
        if fast.vfm is not None:  # a second vision model: its share of the batched path's time
            vfm_s = vfm_time(fast, images[:args.warmup + args.images], args)
            result["vfm"] = dict(weights=f"random {args.random_vfm}" if args.random_vfm else fast.vfm.name,
                                 parameters_mib=round(sum(p.numel() * p.element_size()
                                                          for p in fast.vfm.model.parameters()) / 2**20, 1),
                                 s_per_image=round(vfm_s, 4), share=round(vfm_s / fast_s, 3))
        if args.sequential_images > 0:
            args_seq = argparse.Namespace(**{**vars(args), "images": args.sequential_images})
            slow, _ = build(args_seq, weights, sequential=True, vfm_name=vfm_name)
            slow_s, slow_out, slow_peak = run(slow, images[:args.warmup + args.sequential_images], args_seq)
            labels = [(a.pred_sem_seg.data == b.pred_sem_seg.data).float().mean().item()
                      for a, b in zip(fast_out, slow_out)]
            diff = max(((a.seg_logits.data.float() - b.seg_logits.data.float()).abs().max().item()
                        for a, b in zip(fast_out, slow_out) if "seg_logits" in a and "seg_logits" in b),
                       default=float("nan"))  # not kept when they would not fit the tile budget
            result.update(
                sequential=dict(images=len(slow_out), s_per_image=round(slow_s, 4),
                                images_per_s=round(1 / slow_s, 3), peak_memory_mib=round(slow_peak, 1)),
                speedup=round(slow_s / fast_s, 2), labels_equal=round(min(labels), 6),
                max_prob_diff=float(f"{diff:.3g}"))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
