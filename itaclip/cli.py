"""The ``itaclip`` command: segment your own images into the classes you name; ``eval``; ``presets``.

    itaclip segment photo.jpg holiday/ --classes "cat, dog, tv; monitor" --background "wall, floor, sky"
    itaclip segment photo.jpg --preset voc21            # a data set's classes and texts, as eval.py runs it

For each image it writes ``<stem>_mask.png`` (palette PNG of class indices),
``<stem>_overlay.png`` (the image tinted by class, with a legend) and
``<stem>.json`` (classes, pixel shares, image size, settings) into ``--out``.
Exit status: 0 when every image was segmented, 1 when some could not be
read or written (one line each on stderr), 2 for usage errors.
"""
from __future__ import annotations

import argparse
import ast
import errno
import itertools
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

# Only light modules here: --help, usage errors and file checks answer before torch and mmseg load.
from . import collection, llm_texts, vfm
from . import formats as formats_module
from .atomic import check_writable
from .class_files import (
    TextFileError,
    check_auxiliary_names,
    check_distinct,
    parse_background,
    parse_classes,
    read_auxiliary_texts,
    read_class_names,
)
from .fetch import WeightsError
from .fetch import reason as fetch_reason
from .formats import parse_formats
from .presets import DEVICE_VARIABLE, WEIGHTS_VARIABLE, default_preset, load_preset, presets
from .results import earlier_result, same_file, save_results
from .settings import SettingError, check_key, settable

if TYPE_CHECKING:
    from .api import Segmenter

# Model settings --set may change: every field of the protocol and the compute settings (itaclip.settings)
# but keep_probs (the command never keeps probabilities), the last block as a whole, and ITACLIP's attn_self.
SETTABLE = tuple(key for key in settable() if key != "keep_probs") + ("last_block", "attn_self")
DEFAULT_OUT = "itaclip_out"


class UsageError(Exception):
    """A mistake in the command line or its files: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default repeats the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="itaclip", description="ITACLIP: training-free open-vocabulary segmentation.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    seg = commands.add_parser(
        "segment", help="segment images into the classes you name",
        description="Segment images (or every image in a folder) into the classes you name. Writes "
                    "<stem>_mask.png, <stem>_overlay.png and <stem>.json per image into --out.")
    commands.add_parser("eval", add_help=False,
                        help="evaluate a config on a data set: eval.py's options (itaclip eval --help)")
    commands.add_parser("presets", help="list the presets (configs) with their data set, method and LLM texts")
    web = commands.add_parser("serve", help="a local web page to segment your own images (needs the [web] extra)",
                              description="Serve a web page that segments your images into the classes you type "
                                          "(Gradio; pip install -e \".[web]\").")
    web.add_argument("--weights", help="CLIP weights, as for itaclip segment (default: $ITACLIP_CLIP_WEIGHTS, "
                                       "else ViT-B/16)")
    web.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: $ITACLIP_DEVICE, else cuda if available)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                         "only; 0.0.0.0 opens it to the network)")
    web.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    web.add_argument("--preset", help="the preset chosen when the page opens (default voc21)")
    seg.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER", help="image files or folders of images")
    seg.add_argument("--recursive", action="store_true",
                     help="walk folders to any depth; results keep the sub-path (out/a/b/x_mask.png)")
    seg.add_argument("--input-list", metavar="FILE",
                     help="a file of image paths, one per line, read as it goes (- : standard input); results keep "
                          "each path as written")
    seg.add_argument("--classes", help='comma-separated classes; ";" separates synonyms of one class, '
                                       'e.g. "cat, dog, tv; monitor; screen"')
    seg.add_argument("--classes-file", type=Path, help='a class-name file: one class per line, ", " between '
                                                      "synonyms (the format of configs/cls_*.txt)")
    seg.add_argument("--background", help='comma-separated names that together make class 0, '
                                          'e.g. "wall, floor, sky"; without it every pixel gets one of the classes')
    seg.add_argument("--texts-file", help='LLM texts for your classes: one "name >=text" line per class, in '
                                         "class order, background excluded; a path, or paper:FILE / ours:FILE "
                                         "(e.g. ours:voc21_definitions.txt)")
    seg.add_argument("--preset", help="settings of configs/cfg_<preset>.py (default: voc21 with --background, "
                                      "coco_stuff164k without); without --classes, also its classes and texts")
    seg.add_argument("--texts", choices=["paper", "ours", "none"],
                     help="with --preset and no --classes: the paper's LLM texts (fetched once), this project's, "
                          "or none (default: the preset's; the paper's for the paper's five data sets)")
    seg.add_argument("--weights", help="CLIP weights: an OpenAI name (ViT-B/16, ...) or checkpoint path, "
                                       "ARCH:TAG of open_clip (e.g. ViT-B-16:laion2b_s34b_b88k), ARCH:PATH or "
                                       "hf-hub:ORG/NAME (default: $ITACLIP_CLIP_WEIGHTS, else ViT-B/16)")
    seg.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: $ITACLIP_DEVICE, else cuda if available)")
    for command in (seg, web):
        command.add_argument("--vfm-weights", help="the second vision model of methods that have one (ProxyCLIP's "
                             "DINO): a DINO release (dino_vitb8, dino_vits8, ...), hf-hub:ORG/NAME or the path of a "
                             "DINO state dict (default: the method's own, downloaded once)")
    seg.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                     help="a model setting, repeatable: --set slide_stride=56 --set pamr_steps=5")
    seg.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT}); "
                     "a result there from another input is never replaced")
    seg.add_argument("--max-pixels", type=pixel_count, metavar="N",
                     help="segment images of more than N pixels (e.g. 24e6) at a working size of N pixels and "
                          "upsample their labels: for photos too large for this machine's memory; not the paper's "
                          "protocol (default: every image at full size, computed in tiles)")
    seg.add_argument("--skip-existing", action="store_true",
                     help="skip images whose results from the same input are already in --out (resume a run)")
    seg.add_argument("--retry-failed", action="store_true",
                     help="segment only the images the last run's manifest (--out/manifest.jsonl) lists as failed")
    seg.add_argument("--format", default="png",
                     help="comma-separated: png (mask, overlay, JSON; the default), coco (annotations.coco.json, "
                          "[coco] extra), labelstudio (labelstudio_tasks.json and its config, [labelstudio] "
                          "extra), geotiff (<stem>_mask.tif for georeferenced inputs, [geo] extra)")
    seg.add_argument("--ls-from", default="brush", help="Label Studio: the BrushLabels tag's name (default brush)")
    seg.add_argument("--ls-to", default="image", help="Label Studio: the Image tag's name (default image)")
    seg.add_argument("--ls-url-prefix", help="Label Studio: tasks point at PREFIX/<path relative to the current "
                                             "folder> instead of the absolute path, e.g. /data/local-files/?d=")
    seg.add_argument("--launcher", choices=["none", "pytorch", "slurm"],
                     help="one process per GPU: under torchrun (pytorch; the default when WORLD_SIZE and RANK are "
                          "set) or srun (slurm); each takes its share of the inputs into the same --out")
    seg.add_argument("--workers", type=int, default=2, metavar="N",
                     help="threads that read and decode images ahead of the model (default 2; 0: none)")
    return parser


# ------------------------------------------------------------------------------------------ inputs

def pixel_count(text: str) -> int:
    """``--max-pixels``: a whole number of pixels, written out or as 24e6."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of pixels; write e.g. 24000000 or 24e6")
    return int(value)


def read_classes(args: argparse.Namespace) -> list[list[str]] | None:
    """The classes of ``--classes`` or ``--classes-file`` (at most one of them); None for a preset's own."""
    if args.classes is not None and args.classes_file is not None:
        raise UsageError("give the classes with --classes or --classes-file, not both")
    if args.classes is None and args.classes_file is None:
        if args.preset is None:
            raise UsageError("give the classes with --classes or --classes-file, or name a data set's with "
                             "--preset (e.g. --preset voc21)")
        return None
    if args.texts is not None:
        raise UsageError("--texts chooses a preset's own texts; for your classes give --texts-file "
                         "(e.g. --texts-file ours:voc21_definitions.txt)")
    if args.classes_file is not None:
        classes = [[name.strip() for name in names if name.strip()] for names in read_class_names(args.classes_file)]
        empty = next((line for line, names in enumerate(classes, start=1) if not names), None)
        if empty is not None:
            raise UsageError(f"--classes-file {args.classes_file}, line {empty} names no class; write one class per "
                             "line, its names separated by ', '")
        for line, names in enumerate(classes, start=1):
            for name in names:
                if "," in name:  # the paper's parsing splits on ", " only; say so rather than guess
                    print(f"itaclip segment: warning: {args.classes_file}, line {line}: {name!r} stays one name "
                          "(names are split on ', ', a comma and a space)", file=sys.stderr)
        return classes
    classes = parse_classes(args.classes)
    if not classes or not all(classes):
        raise UsageError(f"--classes {args.classes!r} has an empty class; write e.g. --classes \"cat, dog, sofa\"")
    return classes


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are Python literals where they parse as one (``None``, 56, (8, 16))."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item}: write KEY=VALUE, e.g. slide_stride=56")
        if key.strip() not in SETTABLE:
            raise UsageError(f"--set {item}: unknown setting {key.strip()!r}; settings: {', '.join(SETTABLE)}")
        try:
            overrides[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value
        check_setting(key.strip(), overrides[key.strip()], item)
    return overrides


def check_setting(key: str, value: Any, item: str) -> None:
    """The setting's own rule (itaclip.settings), in one line naming the value and its range, before anything
    loads (a last block is checked whole, kernel name included, which loads torch)."""
    try:
        if key == "attn_self":
            if not isinstance(value, bool):
                raise SettingError(f"attn_self={value!r}: attn_self must be True or False")
        elif key == "last_block":
            from .backbone import LastBlock  # torch: only when a last block is set

            LastBlock.of(value)
        else:
            check_key(key, value)
    except SettingError as err:  # the settings' line, with what was typed in place of the value's repr
        lead = f"{key}={value!r}: "
        message = str(err)[len(lead):] if str(err).startswith(lead) else str(err)
        raise UsageError(f"--set {item}: {message}") from None


# ------------------------------------------------------------------------------------------ command

def build_segmenter(args: argparse.Namespace, overrides: dict[str, Any]) -> Segmenter:
    """The model of a preset's classes, or of the classes given; all input checks before the weights."""
    from .api import Segmenter  # the heavy stack, now that the command line has been checked

    classes = read_classes(args)
    if classes is None:
        for option in ("background", "texts_file"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} goes with your own classes; add --classes, or "
                                 f"drop it to use the preset's")
        cfg, texts = load_preset_or_fail(args.preset), {}
        if args.texts is not None:
            try:
                texts["auxiliary_text_path"] = llm_texts.switch(cfg.model.get("auxiliary_text_path"), args.texts)
            except ValueError as err:
                raise UsageError(str(err)) from None
        return Segmenter.from_preset(args.preset, weights=args.weights, device=args.device, **overrides, **texts)
    background = parse_background(args.background) if args.background is not None else None
    if background is not None and not background:
        raise UsageError("--background names nothing; drop it or write e.g. --background \"wall, floor, sky\"")
    for key in ("prob_thd", "area_thd"):  # both hand pixels to class 0, which is then one of your classes
        if background is None and overrides.get(key):
            raise UsageError(f"--set {key}={overrides[key]} hands pixels to class 0, which without --background is "
                             f"your first class '{classes[0][0]}'; add --background (e.g. \"wall, floor, sky\") or "
                             f"drop --set {key}")
    if len(classes) + (background is not None) > 256:
        raise UsageError(f"{len(classes) + (background is not None)} classes: a palette mask holds at most 256")
    if args.texts_file is not None:
        entries = read_auxiliary_texts(llm_texts.resolve(args.texts_file))
        source = ("--classes", "class") if args.classes is not None else (str(args.classes_file), "line")
        check_auxiliary_names(entries, classes, False, f"--texts-file {args.texts_file}", *source)
    load_preset_or_fail(args.preset or default_preset(background is not None))
    return Segmenter.from_classes(classes, background=background, texts=args.texts_file, weights=args.weights,
                                  device=args.device, preset=args.preset, **overrides)


def load_preset_or_fail(preset: str):
    """The preset's config (read without importing the model code), or a usage error naming the presets."""
    try:
        return load_preset(preset, import_custom_modules=False)
    except ValueError as err:
        raise UsageError(str(err)) from None


def check_device(args: argparse.Namespace) -> None:
    """``--device`` (or ``$ITACLIP_DEVICE``) names a device this machine has, in one line if not."""
    device = args.device or os.environ.get(DEVICE_VARIABLE)
    if device is None:
        return
    given = f"--device {device}" if args.device else f"{DEVICE_VARIABLE}={device}"
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise UsageError(f"{given}: write cpu, cuda or cuda:N")
    import torch

    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available():
            raise UsageError(f"{given}: CUDA is not available here; use --device cpu")
        if index >= torch.cuda.device_count():
            raise UsageError(f"{given}: this machine has {torch.cuda.device_count()} GPU(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")


def check_vfm_weights(args: argparse.Namespace) -> bool:
    """Whether ``--vfm-weights`` was given; a name that is none of the spellings is a usage error (no download)."""
    if args.vfm_weights is None:
        return False
    try:
        vfm.check_name(args.vfm_weights)
    except vfm.VFMError as err:
        raise UsageError(f"--vfm-weights {args.vfm_weights}: {err}") from None
    return True


def writable_folder(out: Path) -> bool:
    """Create ``out`` if needed and test-write it before anything loads; whether it was created now."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        check_writable(out)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot write there ({err.strerror or err}); choose another folder") from None
    return created


def check_classes(args: argparse.Namespace) -> None:
    """The classes and background typed (or in --classes-file) read and checked before anything heavy loads."""
    classes = read_classes(args)
    if classes is None:
        return
    background = parse_background(args.background) if args.background is not None else None
    try:
        check_distinct(classes, background)
    except ValueError as err:
        where = "--classes-file " + str(args.classes_file) if args.classes_file is not None else "--classes"
        raise UsageError(f"{where}: {err}") from None


def segment(args: argparse.Namespace) -> int:
    """Build the model once, label this process's share of the inputs, keep the manifest; the exit status."""
    check_device(args)
    check_classes(args)
    overrides = parse_overrides(args.overrides)
    if check_vfm_weights(args):
        overrides["vfm_name"] = args.vfm_weights
    try:
        formats = parse_formats(args.format)
        launch = collection.Launch.of(args.launcher)
        if not args.inputs and args.input_list is None:
            raise ValueError("give images or folders, or --input-list FILE (- for standard input)")
        if args.workers < 0:
            raise ValueError(f"--workers {args.workers}: give 0 or more threads")
        items = collection.collect(args.inputs, args.recursive, args.input_list)
    except ValueError as err:
        raise UsageError(str(err)) from None
    created = writable_folder(args.out)
    if launch.world > 1 and (args.device or os.environ.get(DEVICE_VARIABLE) or "cuda").startswith("cuda"):
        import torch

        if torch.cuda.is_available():  # one GPU per process: its local rank's
            args.device = f"cuda:{launch.local_rank % torch.cuda.device_count()}"
    try:
        segmenter = build_segmenter(args, overrides)
    except BaseException:
        if created and not any(args.out.iterdir()):  # a run that fails before any result leaves no empty folder
            args.out.rmdir()
        raise
    collection.join(launch)
    listed = collection.find_inputs(input_list=args.input_list, start=len(items)) if args.input_list else ()
    failures, totals = label_collection(args, segmenter, itertools.chain(items, listed), launch, formats, overrides)
    if totals is None:  # not process 0: its own share decides its exit status
        return 1 if failures else 0
    done, skipped, failed = totals.get("ok", 0), totals.get("skipped", 0), totals.get("failed", 0)
    print(f"itaclip: {done} of {totals['total']} images segmented into {args.out}"
          f"{f' ({skipped} already there, skipped)' if skipped else ''}"
          f"{f', {failed} failed' if failed else ''}; manifest: {args.out / collection.MANIFEST}", file=sys.stderr)
    return 1 if failed else 0


def wanted_outputs(stem: str, formats: Sequence[str], georeferenced: bool) -> list[str]:
    """An input's result files under ``--out`` for these formats (its JSON record first, always written)."""
    names = [f"{stem}.json"]
    if "png" in formats:
        names += [f"{stem}_mask.png", f"{stem}_overlay.png"]
    if "geotiff" in formats:
        names.append(f"{stem}_mask.tif" if georeferenced else f"{stem}_mask.png")
    return list(dict.fromkeys(names))


def complete(out: Path, outputs: Sequence[str], formats: Sequence[str]) -> bool:
    """Whether an earlier result has every file (and, in its JSON, the COCO and Label Studio parts) asked for."""
    if not all((out / name).is_file() for name in outputs):
        return False
    wanted = [name for name in ("coco", "labelstudio") if name in formats]
    if not wanted:
        return True
    try:
        record = json.loads((out / outputs[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(name in record for name in wanted)


def label_collection(args: argparse.Namespace, segmenter, inputs, launch, formats,
                     overrides) -> tuple[int, dict | None]:
    """Label this process's share: images read ahead, segmented, results written behind, one manifest line
    each; then, on process 0 once all are done, the merged manifest and the collection files. This process's
    failures, and the run's totals on process 0 (None elsewhere)."""
    from tqdm import tqdm

    from .api import ImageTooLarge, ImageTooSmall
    from .kernels import ProxyMaskError
    from .render import ImageReadError, decode_reduced, image_size, to_rgb

    settings = dict(segmenter.settings, overrides=overrides)
    if args.max_pixels is not None:
        settings["max_pixels"] = args.max_pixels
    retry = collection.failed_paths(args.out) if args.retry_failed else None
    manifest = collection.Manifest(args.out, launch)
    writer = collection.Behind()
    claims = collection.Claims(args.out)

    def line(item, status, outputs=(), reason=None, size=None):
        manifest.write(collection.manifest_line(item, status, outputs, reason, size))
        if status == "failed":
            tqdm.write(f"{item.path}: {reason}", file=sys.stderr)

    def another_input(item) -> tuple[str | None, str | None]:
        """The input an earlier result under this name came from, and why it is not replaced (None, None: no
        earlier result; (input, None): one from this very input)."""
        earlier = earlier_result(item.path, args.out, item.stem)
        if earlier is None or same_file(earlier, item.path):
            return earlier, None
        return earlier, (f"{args.out} already holds {item.stem}.json from {earlier}; not replaced (choose another "
                         "--out, or move that result)")

    def load(item):
        georeferenced = "geotiff" in formats and formats_module.georeferenced(item.path)
        outputs = wanted_outputs(item.stem, formats, georeferenced)
        earlier, refusal = another_input(item)
        if refusal:  # never replace another input's result
            return "failed", outputs, refusal
        keep = args.skip_existing or (retry is not None and str(item.path) not in retry)
        if keep and earlier is not None and complete(args.out, outputs, formats):
            return "skipped", outputs, None
        if earlier is None:  # files under our names that no record of ours accounts for: the user's own
            foreign = [name for name in outputs[1:] if (args.out / name).exists()]
            if foreign:
                return "failed", outputs, (f"{args.out / foreign[0]} exists and was not written by itaclip; not "
                                           "replaced (choose another --out, or move that file)")
        if not claims.take(item.stem):
            return "failed", outputs, (f"another run ({claims.holder(item.stem)}) is writing {item.stem} into "
                                       f"{args.out}; not replaced (rerun with --skip-existing when it is done, or "
                                       f"remove {claims.path(item.stem)} if that run is gone)")
        _, refusal = another_input(item)  # asked again under the claim: another run may have just finished it
        if refusal:
            claims.release(item.stem)
            return "failed", outputs, refusal
        try:
            size = image_size(item.path)
            if all(size):  # a photo too thin, or too large for memory, is refused before decoding
                segmenter.check_size(*size)
                if args.max_pixels is None:
                    segmenter.check_fits(*size, probs=False)
            if args.max_pixels is not None and size[0] * size[1] > args.max_pixels:  # never decoded whole
                return "read", outputs, (decode_reduced(item.path, args.max_pixels), georeferenced, size)
            return "read", outputs, (to_rgb(item.path), georeferenced, None)
        except BaseException:
            claims.release(item.stem)
            raise

    def save(item, rgb, result, outputs, georeferenced):
        record = {}
        if "coco" in formats:
            record["coco"] = result.to_coco(item.index + 1)
        if "labelstudio" in formats:
            record["labelstudio"] = formats_module.labelstudio_results(result, args.ls_from, args.ls_to)
        try:
            if "geotiff" in formats and georeferenced:
                formats_module.write_geotiff(item.path, result, args.out / f"{item.stem}_mask.tif")
            save_results(item.path, rgb, result, args.out, item.stem, settings, extra=record,
                         mask="png" in formats or ("geotiff" in formats and not georeferenced),
                         overlay="png" in formats)
        except OSError as err:  # a full disk, a folder that became read-only: this image fails, the others go on
            line(item, "failed", outputs, reason=f"cannot write results to {args.out} ({err.strerror or err})")
            return
        finally:
            claims.release(item.stem)
        line(item, "ok", outputs, size=(int(result.labels.shape[1]), int(result.labels.shape[0])))

    share = collection.mine(inputs, launch)
    bar = tqdm(unit="image", desc=f"rank {launch.rank}" if launch.world > 1 else None,
               disable=None if launch.world > 1 or args.input_list or args.recursive else True)
    try:
        for item, loaded in collection.ahead(share, load, args.workers):
            bar.update()
            if isinstance(loaded, (ImageReadError, OSError)):
                line(item, "failed", reason=f"cannot read image ({loaded})")
                continue
            if isinstance(loaded, (ImageTooLarge, ImageTooSmall, ProxyMaskError)):
                line(item, "failed", reason=in_command_words(str(loaded), args))
                continue
            if isinstance(loaded, ValueError):  # anything else the reading refused: that image's line
                line(item, "failed", reason=str(loaded))
                continue
            if isinstance(loaded, Exception):
                raise loaded
            status, outputs, value = loaded
            if status != "read":
                line(item, status, outputs, reason=value)
                continue
            rgb, georeferenced, full_size = value
            if "geotiff" in formats and not georeferenced:
                tqdm.write(f"{item.path}: not a georeferenced raster; its mask is a PNG", file=sys.stderr)
            try:
                result = segmenter.segment(rgb, probs=False, max_pixels=args.max_pixels, size=full_size)
            except (ImageTooLarge, ImageTooSmall, ProxyMaskError) as err:  # this image only: the others go on
                claims.release(item.stem)
                line(item, "failed", reason=in_command_words(str(err), args))
                continue
            except Exception as err:  # any other failure of one image: one line, and the batch goes on
                claims.release(item.stem)
                line(item, "failed", reason=f"cannot segment it ({type(err).__name__}: {fetch_reason(err)})")
                continue
            writer.submit(lambda item=item, rgb=rgb, result=result, outputs=outputs, geo=georeferenced:
                          save(item, rgb, result, outputs, geo))
    finally:
        bar.close()
        try:
            writer.close()
        finally:
            claims.release_all()
    totals = manifest.finish()
    if totals is not None:
        write_collection_files(args, formats)
    return manifest.counts["failed"], totals


def write_collection_files(args: argparse.Namespace, formats: Sequence[str]) -> None:
    """``annotations.coco.json`` and the Label Studio files, from the images' JSONs in manifest order."""
    if "coco" not in formats and "labelstudio" not in formats:
        return

    def records():
        for entry in collection.read_lines(args.out / collection.MANIFEST):
            if entry["status"] in ("ok", "skipped") and entry["outputs"]:
                try:
                    yield entry["index"], json.loads((args.out / entry["outputs"][0]).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue

    if "coco" in formats:
        formats_module.write_coco(args.out, records())
    if "labelstudio" in formats:
        formats_module.write_labelstudio(args.out, records(), args.ls_from, args.ls_to, args.ls_url_prefix)


def list_presets() -> int:
    """``itaclip presets``: every preset with its data set, method and LLM texts (configs read, not run)."""
    rows = [("preset", "data set", "method", "LLM texts")]
    for name in presets():
        cfg = load_preset(name, import_custom_modules=False)
        rows.append((name, cfg.test_dataloader.dataset.type, cfg.model.type,
                     str(cfg.model.get("auxiliary_text_path") or "none")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    try:
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3], flush=True)
    except BrokenPipeError:  # `itaclip presets | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and Python's exit flush stays quiet
    return 0


def serve(args: argparse.Namespace) -> int:
    """``itaclip serve``: checks in one line, then the page (itaclip.web) until interrupted (a normal stop)."""
    check_device(args)
    check_vfm_weights(args)
    if args.preset is not None:
        load_preset_or_fail(args.preset)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: a port is 1 to 65535")
    check_address(args.host, args.port)
    try:
        from . import web
    except ImportError as err:
        raise UsageError(f"the web page needs Gradio ({err}); install it with pip install -e \".[web]\" "
                         "(or pip install \"itaclip[web]\")") from None

    def stop(signum, frame):  # SIGTERM stops the page as Ctrl+C does: its results folder is removed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        web.serve(args.weights, args.device, args.host, args.port, args.preset, args.vfm_weights)
    except KeyboardInterrupt:
        pass
    return 0


def check_address(host: str, port: int) -> None:
    """``--host``/``--port`` name an address this machine can listen on, now (one line if not)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"--host {host}: not an address of this machine; use 127.0.0.1 (this machine) or "
                         "0.0.0.0 (every network)") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: a closing port is free
        try:
            probe.bind(address)
        except OSError as err:
            what = "is in use" if err.errno == errno.EADDRINUSE else f"cannot be used ({err.strerror or err})"
            raise UsageError(f"--host {host} --port {port}: that address {what}; choose another --port") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:  # eval.py's own options, parsed by itaclip.evaluate
        from .evaluate import main as evaluate

        evaluate(argv[1:], prog="itaclip eval")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "presets":
        return list_presets()
    prog = f"itaclip {args.command}"
    try:
        return serve(args) if args.command == "serve" else segment(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; results written so far are complete", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except (TextFileError, WeightsError, SettingError, collection.InputError) as err:  # already one line each
        if isinstance(err, llm_texts.PaperTextsUnavailable):  # how to do without, in this command's words
            err.hint = "--texts ours" if getattr(args, "texts_file", None) is None else f"--texts-file ours:{err.name}"
        print(f"{prog}: error: {in_command_words(str(err), args)}", file=sys.stderr)
        return 2


def in_command_words(message: str, args: argparse.Namespace) -> str:
    """An API message in the command's vocabulary: its options, and which variable a value came from."""
    weights = "--weights" if args.weights else f"{WEIGHTS_VARIABLE} (set in the environment)" \
        if os.environ.get(WEIGHTS_VARIABLE) else "--weights"
    set_keys = [item.partition("=")[0].strip() for item in getattr(args, "overrides", [])]
    if any(message.startswith(f"{key}=") for key in set_keys):  # a setting's line about a --set value
        message = f"--set {message}"
    return message.replace("vfm_name", "--vfm-weights").replace("model_name", weights).replace(
        "device='cpu'", "--device cpu").replace("max_pixels=", "--max-pixels ")


if __name__ == "__main__":
    sys.exit(main())
