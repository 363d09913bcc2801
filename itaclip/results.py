"""The files of one image's result, as ``itaclip segment`` and ``itaclip serve`` write them.

``<stem>_mask.png`` (palette PNG of class indices), ``<stem>_overlay.png``
(the image tinted by class, with a legend) and ``<stem>.json`` (classes, pixel
shares, image size, settings), written together through
:func:`itaclip.atomic.atomic_write`; and reading back which input an earlier
result was made from. Light: nothing heavy is imported here (the result
object brings its own methods), so the command can import it at start-up.
"""
from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write

if TYPE_CHECKING:
    from .render import Segmentation


def summary(image: Path, result: Segmentation, settings: dict[str, Any]) -> dict[str, Any]:
    """What the JSON beside each mask says: classes, their pixel shares and colours, size, settings."""
    height, width = result.labels.shape
    shares = result.shares()
    classes = [dict(index=i, name=name, names=result.classes[i], share=shares[i],
                    colour=[int(c) for c in result.colours[i]])
               for i, name in enumerate(result.class_names)]
    record = dict(image=str(image), width=width, height=height, classes=classes,
                  present=[result.class_names[i] for i in result.present()], settings=settings)
    if result.working_size is not None:
        record["working_size"] = dict(height=result.working_size[0], width=result.working_size[1],
                                      note="labels computed at this size and upsampled (--max-pixels); "
                                           "not the paper's protocol")
    return record


def save_results(image: Path, rgb: Any, result: Segmentation, out: Path, stem: str, settings: dict[str, Any],
                 extra: dict[str, Any] | None = None, mask: bool = True, overlay: bool = True) -> None:
    """The mask, the overlay and the JSON of one image, written together: all land or none.

    ``extra``: more entries of the JSON (a collection's per-image COCO annotations and Label Studio
    results, :mod:`itaclip.formats`); ``mask``/``overlay``: whether those files are written (the JSON always
    is: it records which input a result is from)."""
    text = json.dumps(dict(summary(image, result, settings), **(extra or {})), indent=2) + "\n"
    with ExitStack() as files:
        if mask:
            result.mask_image().save(files.enter_context(atomic_write(out / f"{stem}_mask.png")), format="PNG")
        if overlay:  # at the decoded image's size (smaller than the labels' when decoded reduced: --max-pixels)
            shown = result if result.labels.shape == tuple(rgb.shape[:2]) else result.resized(tuple(rgb.shape[:2]))
            shown.overlay(rgb).save(files.enter_context(atomic_write(out / f"{stem}_overlay.png")), format="PNG")
        files.enter_context(atomic_write(out / f"{stem}.json", "w", encoding="utf-8")).write(text)


def same_file(recorded: str, image: Path) -> bool:
    """Whether a result's recorded input is ``image`` (as typed, or the same file)."""
    return recorded == str(image) or Path(recorded).resolve() == image.resolve()


def earlier_result(image: Path, out: Path, stem: str) -> str | None:
    """The input an existing ``<stem>.json`` in ``out`` was made from (None when there is none)."""
    try:
        return str(json.loads((out / f"{stem}.json").read_text(encoding="utf-8")).get("image"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return "an unreadable record"
