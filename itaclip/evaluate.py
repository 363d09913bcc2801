"""Evaluate ITACLIP (or another method) on a data set with mmengine's test loop, as the paper's code does.

    itaclip eval --config cfg_voc21 --data-root data/VOCdevkit/VOC2012
    python eval.py --config configs/cfg_voc21.py --data-root data/VOCdevkit/VOC2012      # the same, in a checkout
    torchrun --nproc_per_node=4 eval.py --config cfg_voc21.py --data-root ... --launcher pytorch

Prints the per-class IoU table and mIoU, and writes the metrics as JSON into
the work dir, with a record of what produced them (config, weights and LLM
texts with their SHA-256, code and library versions, device, data). Runs on
CUDA when available, on CPU otherwise, unless the config or
``--cfg-options model.device=...`` says which. The paper's configs read the
paper's LLM texts (fetched once); ``--texts ours`` or ``--texts none`` choose
this project's texts or none.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .presets import CONFIG_DIR  # light: nothing here may load torch yet
from .presets import find_config as find_preset

PROG = "eval.py"  # how errors name the command: eval.py, or itaclip eval


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    class Options(DictAction):
        """mmengine's ``KEY=VALUE`` reader, with one usage line for an item without ``=``."""

        def __call__(self, parser, namespace, values, option_string=None):
            bad = [item for item in values if "=" not in item]
            if bad:
                parser.error(f"--cfg-options {bad[0]}: write KEY=VALUE, e.g. model.device=cpu")
            super().__call__(parser, namespace, values, option_string)

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True,
                        help="config path, or a file name under configs/ (e.g. cfg_voc21.py, cfg_voc21 or "
                             "sclip/cfg_voc21)")
    parser.add_argument("--work-dir", help="where logs and metrics.json go (default: work_dirs/<config name>, "
                                           "e.g. work_dirs/sclip/cfg_voc21)")
    parser.add_argument("--data-root", help="root folder of the test data set (see datasets/README.md)")
    parser.add_argument("--cfg-options", nargs="+", action=Options, default={},
                        help="override config keys, e.g. model.model_name=/path/ViT-B-16.pt model.device=cpu")
    parser.add_argument("--texts", choices=["paper", "ours", "none"],
                        help="LLM texts: the paper's (fetched once, checked by SHA-256), this project's "
                             "(llm_texts/), or none (default: what the config reads; the paper's for its five)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher for multi-process evaluation")
    parser.add_argument("--show-dir", help="save images with their colour-coded prediction (and ground truth) here")
    parser.add_argument("--out", help="write each predicted label map as a PNG into this folder")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def find_config(name: str) -> Path:
    """A config path, a file under configs/ (``cfg_voc21``, ``sclip/cfg_voc21``) or a preset name; else exit."""
    path = find_preset(name)
    if path is None:
        known = ", ".join(sorted(p.relative_to(CONFIG_DIR).as_posix() for p in CONFIG_DIR.rglob("cfg_*.py")))
        sys.exit(f"{PROG}: --config {name}: no such file here or in {CONFIG_DIR} (configs: {known})")
    return path


def work_name(path: Path) -> str:
    """``cfg_voc21`` for configs/cfg_voc21.py, ``sclip/cfg_voc21`` for configs/sclip/cfg_voc21.py: one
    work dir per config, whichever method it runs."""
    try:
        return path.resolve().relative_to(CONFIG_DIR).with_suffix("").as_posix()
    except ValueError:  # a config outside configs/
        return path.stem


def choose_device(cfg) -> str:
    """The config's ``model.device`` if set, else CUDA when available, else CPU.

    A CPU run on a machine with a GPU hides the GPU, so that mmengine's
    runner (which moves the model to "the" device) keeps it on the CPU.
    """
    import torch

    device = cfg.model.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cpu"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cfg.model.device = device
    return device


def build_config(args: argparse.Namespace):
    from mmengine.config import Config

    path = find_config(args.config)
    # Not importing the config's custom modules (itaclip, hence mmseg and mmengine's runner) yet:
    # mmengine's runner asks CUDA for its devices on import, and choose_device must hide the GPU
    # before anything does, or a CPU run on a GPU machine would be moved to the GPU.
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        if not Path(args.data_root).is_dir():
            sys.exit(f"{PROG}: --data-root {args.data_root} is not a folder; see datasets/README.md")
        cfg.test_dataloader.dataset.data_root = args.data_root
    if not cfg.test_dataloader.dataset.get("data_root"):
        sys.exit(f"{PROG}: no data root; pass --data-root PATH (see datasets/README.md for each data set's layout)")
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(Path("work_dirs") / work_name(path))
    for option, folder in (("--work-dir", cfg.work_dir), ("--out", args.out), ("--show-dir", args.show_dir)):
        if folder is not None:
            check_writable(option, Path(folder))
    cfg.launcher = args.launcher
    device = choose_device(cfg)
    if device == "cpu":
        cfg.env_cfg.dist_cfg = dict(backend="gloo")
    if args.show_dir:
        cfg.default_hooks.visualization.draw = True
        cfg.visualizer.save_dir = args.show_dir
    label_check = cfg.get("label_check", "error")
    if label_check not in LABEL_CHECKS:
        sys.exit(f"{PROG}: --cfg-options label_check={label_check}: one of {', '.join(LABEL_CHECKS)}")
    for step in cfg.test_dataloader.dataset.get("pipeline", []):  # a bad label file: one line naming it
        if step.get("type") == "LoadAnnotations":
            step["type"] = "LoadCheckedAnnotations"
        if step.get("type") in ("LoadCheckedAnnotations", "LoadAnnotations16") and label_check == "ignore":
            step.update(out_of_range="ignore", ignore_index=cfg.test_evaluator.get("ignore_index", 255),
                        num_classes=None)  # set when the data set's classes are known (check_data)
    if args.out:  # written atomically by itaclip's hook, not by the metric's plain save
        cfg.custom_hooks = [*cfg.get("custom_hooks", []), dict(type="SavePredictionsHook", out_dir=args.out)]
    return cfg


def check_writable(option: str, folder: Path) -> None:
    """``folder`` can be created and written now, before any image is scored (one line if not); nothing is
    created here (a run that stops before its work leaves no folder)."""
    from itaclip.atomic import check_writable as writable

    try:
        writable(folder)
    except OSError as err:
        sys.exit(f"{PROG}: {option} {folder}: cannot write there ({err.strerror or err}); choose another folder")


def init_cpu_distributed(cfg) -> None:
    """mmengine's pytorch launcher selects a CUDA device per rank; on CPU, start gloo ourselves."""
    import torch.distributed as dist

    if cfg.launcher == "pytorch" and cfg.model.device == "cpu" and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def run_record(cfg, args: argparse.Namespace) -> dict:
    """What will produce this run's numbers; resolving the texts and weights fetches them if needed.

    Called before the runner is built, so a missing file ends the run in one
    line before any slow work starts.
    """
    from itaclip import llm_texts, provenance
    from itaclip.methods import resolved_recipe, weights_name
    from itaclip.weights import default_precision

    if args.texts:
        cfg.model.auxiliary_text_path = llm_texts.switch(cfg.model.get("auxiliary_text_path"), args.texts)
    check_data(cfg)
    texts = provenance.texts_record(cfg.model.get("auxiliary_text_path"))  # texts first: they fail fastest
    weights = provenance.weights_record(weights_name(cfg.model))
    vfm_name = resolved_recipe(cfg.model).vfm_name
    second = {} if vfm_name is None else dict(vfm=provenance.vfm_record(vfm_name))
    precision = cfg.model.get("precision") or default_precision(cfg.model.device)
    return dict(config=dict(file=str(Path(cfg.filename).resolve()), merged=cfg.pretty_text),
                weights=weights, **second, llm_texts=texts, software=provenance.software_record(),
                device=provenance.device_record(cfg.model.device, precision),
                data=dict(root=str(Path(cfg.test_dataloader.dataset.data_root).resolve()), images=None))


def dataset_classes(dataset) -> list:
    """The class names a data-set config evaluates: its ``metainfo`` override, else its type's own."""
    from mmseg.registry import DATASETS

    return (dataset.get("metainfo") or {}).get("classes") or DATASETS.get(dataset.type).METAINFO["classes"]


def check_data(cfg) -> None:
    """The data root's layout and the class count, before the model is built (a ValueError names what is wrong)."""

    from itaclip.class_files import read_class_names

    dataset = cfg.test_dataloader.dataset
    root = Path(dataset.data_root)
    needed = [("split file", dataset.get("ann_file"), Path.is_file)]
    needed += [(f"{kind} folder", folder, Path.is_dir) for kind, folder in
               (("image", dataset.get("data_prefix", {}).get("img_path")),
                ("label", dataset.get("data_prefix", {}).get("seg_map_path")))]
    for what, relative, exists in needed:
        if relative and not exists(root / relative):
            raise ValueError(f"--data-root {root}: no {what} {relative} in it; see datasets/README.md for "
                             f"the layout of {dataset.type}")
    classes = dataset_classes(dataset)
    name_path = cfg.model.get("name_path")
    count = len(read_class_names(name_path)) if name_path else len(classes)
    if count != len(classes):
        raise ValueError(f"model.name_path {name_path} has {count} classes but the "
                         f"data set {dataset.type} has {len(classes)}; give a class-name file with one line per "
                         "class of the data set, in its order")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    loader = cfg.test_dataloader
    workers = loader.get("num_workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"--cfg-options test_dataloader.num_workers={workers}: a whole number of loader "
                         "processes, 0 or more (0: load in the main process)")
    if workers > cpus:  # no more loader processes than the machine has cores
        loader.num_workers = cpus
    if loader.num_workers == 0:
        loader.persistent_workers = False  # mmengine refuses persistent workers without workers
    images = check_split(cfg)  # after the cheap checks: it reads every label
    cfg.default_hooks.logger.interval = max(1, min(50, images // 10))  # progress shown for any set size


LABEL_CHECKS = ("error", "ignore", "off")  # --cfg-options label_check=...: label values outside the classes


def check_labels(cfg, items: list[dict], num_classes: int) -> None:
    """Every label map, read before the model is built as the pipeline reads it: of its image's size, with
    values in ``[0, classes)`` or the ignore index. ``label_check=error`` (the default) stops at the first
    bad file in one line naming it and the values; ``ignore`` makes such values the ignore index; ``off``
    reads nothing."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from mmseg.registry import TRANSFORMS
    from PIL import Image

    mode = cfg.get("label_check", "error")
    loader = next((dict(step) for step in cfg.test_dataloader.dataset.get("pipeline", [])
                   if step.get("type") in ("LoadCheckedAnnotations", "LoadAnnotations16")), None)
    if mode == "off" or loader is None:
        return
    ignore = cfg.test_evaluator.get("ignore_index", 255)
    for step in cfg.test_dataloader.dataset.pipeline:  # the loader learns the class count for 'ignore'
        if step.get("type") == loader["type"] and mode == "ignore":
            step["num_classes"] = num_classes
    loader.update(num_classes=num_classes, out_of_range="keep")
    load = TRANSFORMS.build(loader)

    def problem(item: dict) -> str | None:
        results = dict(item, seg_fields=[])
        load(results)
        labels = results["gt_seg_map"]
        with Image.open(item["img_path"]) as image:
            width, height = image.size
        if labels.shape[:2] != (height, width):
            return (f"label file {item['seg_map_path']} is {labels.shape[1]} x {labels.shape[0]}, its image "
                    f"{width} x {height}; labels must have their image's size")
        values = np.unique(labels)
        outside = values[(values >= num_classes) & (values != ignore)]
        if mode == "error" and outside.size:
            return (f"label file {item['seg_map_path']} holds values {', '.join(map(str, outside[:5].tolist()))} "
                    f"outside the {num_classes} classes (0-{num_classes - 1}) and the ignore index {ignore}; fix "
                    "the labels, or score them as ignored with --cfg-options label_check=ignore")
        return None

    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        for found in pool.map(problem, items):
            if found:
                raise ValueError(found)


def check_split(cfg) -> int:
    """The images the data set lists, checked before the model is built: none, one listed twice, or an image
    or label file missing is a ValueError naming it. The number of images."""
    import copy
    from collections import Counter

    from mmseg.registry import DATASETS

    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.update(lazy_init=True, pipeline=[])
    where = dataset_cfg.get("ann_file") or dataset_cfg.get("data_prefix", {}).get("img_path") or "the data root"
    try:
        items = DATASETS.build(dataset_cfg).load_data_list()
    except (OSError, ValueError, AssertionError, KeyError) as err:
        raise ValueError(f"--data-root {dataset_cfg.data_root}: cannot list the images of {where} "
                         f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})") from None
    if not items:
        raise ValueError(f"--data-root {dataset_cfg.data_root}: {where} lists no image; see datasets/README.md")
    counts = Counter(item["img_path"] for item in items)
    repeated = [(path, n) for path, n in counts.items() if n > 1]
    if repeated:
        path, n = repeated[0]
        raise ValueError(f"{where} lists {Path(path).stem} {n} times ({len(repeated)} images listed more than "
                         "once); list each image once, or it is scored as often as it is listed")
    for key, what in (("img_path", "image"), ("seg_map_path", "label file")):
        missing = [item[key] for item in items if item.get(key) and not Path(item[key]).is_file()]
        if missing:
            raise ValueError(f"{what} {missing[0]} is missing ({len(missing)} of the {len(items)} images listed in "
                             f"{where}); restore it or leave it out of the split")
    check_labels(cfg, items, len(dataset_classes(dataset_cfg)))
    return len(items)


def log_record(record: dict, logger) -> None:
    """One block at the start of the log: the record without the merged config (mmengine logs that)."""
    lines = ["run record:"]
    for key, value in record.items():
        if key == "config":
            value = value["file"]
        lines.append(f"  {key}: {json.dumps(value)}")
    logger.info("\n".join(lines))


def last_line(err: Exception) -> str:
    """An error's own line: a data-loader worker wraps it in a traceback whose last line is ``Type: message``."""
    line = str(err).strip().splitlines()[-1]
    name, sep, message = line.partition(": ")
    return message if sep and name.endswith(type(err).__name__) else line


def main(argv=None, prog: str | None = None) -> dict:
    global PROG
    PROG = prog or PROG
    args = parse_args(argv, prog)
    cfg = build_config(args)
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    import itaclip
    import itaclip.models  # noqa: F401  (registers the models, data sets and hooks in mmseg)
    from itaclip.atomic import atomic_write
    from itaclip.datasets import LabelFileError
    from itaclip.kernels import ProxyMaskError

    try:
        record = run_record(cfg, args)
    except (ValueError, itaclip.WeightsError) as err:  # a bad --texts, a missing file: one line, what to fix
        sys.exit(f"{PROG}: {err}")
    init_cpu_distributed(cfg)
    try:
        runner = Runner.from_cfg(cfg)
        record["data"]["images"] = len(runner.test_loop.dataloader.dataset)
        if get_rank() == 0:
            log_record(record, runner.logger)
        metrics = runner.test()
    except (itaclip.TextFileError, itaclip.WeightsError, LabelFileError, ProxyMaskError) as err:  # what to fix
        sys.exit(f"{PROG}: {last_line(err)}")
    if get_rank() == 0:
        out = Path(cfg.work_dir) / "metrics.json"
        with atomic_write(out, "w") as f:
            json.dump(dict(metrics={k: float(v) for k, v in metrics.items()}, **record), f, indent=2)
        summary = "  ".join(f"{k} {float(v):.2f}" for k, v in metrics.items())
        print(f"{summary}\nmetrics written to {out}")
    return metrics


if __name__ == "__main__":
    main()
