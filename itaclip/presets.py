"""Presets: the configurations in ``configs/`` by short name (``voc21``, ``sclip/voc21``), found and read.

Light on purpose (mmengine's config reader is imported when a preset is
read), so the command can check a preset's name before anything heavy loads.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmengine.config import Config

def shipped(folder: str) -> Path:
    """A folder the package ships (``configs``, ``llm_texts``): inside an installed wheel (``itaclip/_data``),
    else the checkout's top-level folder (an editable install or a clone)."""
    installed = Path(__file__).resolve().parent / "_data" / folder
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / folder


CONFIG_DIR = shipped("configs")
DEFAULT_WEIGHTS = "ViT-B/16"
WEIGHTS_VARIABLE, DEVICE_VARIABLE = "ITACLIP_CLIP_WEIGHTS", "ITACLIP_DEVICE"  # defaults when none are given


def presets() -> list[str]:
    """Names of the presets: ``voc21`` for ``configs/cfg_voc21.py``, ``sclip/voc21`` for
    ``configs/sclip/cfg_voc21.py`` (other methods and ablations live in subfolders)."""
    names = (p.relative_to(CONFIG_DIR).with_name(p.stem[len("cfg_"):]) for p in CONFIG_DIR.rglob("cfg_*.py"))
    return sorted(name.as_posix() for name in names)


def find_config(name: str) -> Path | None:
    """A config file: ``name`` as a path, else ``configs/<name>``, ``configs/<name>.py`` or the
    preset ``configs/[<folder>/]cfg_<name>.py``; None when there is none."""
    preset = Path(name)
    for candidate in (preset, CONFIG_DIR / name, CONFIG_DIR / f"{name}.py",
                      CONFIG_DIR / preset.parent / f"cfg_{preset.name}.py"):
        if candidate.is_file():
            return candidate
    return None


def load_preset(preset: str, import_custom_modules: bool = True) -> "Config":
    """The mmengine config of a preset, or a one-line ValueError listing the presets.

    ``import_custom_modules=False`` reads it without importing the model code (a quick check).
    """
    from mmengine.config import Config

    if not CONFIG_DIR.is_dir():
        raise ValueError(f"the package's configs are missing (looked in {CONFIG_DIR}); reinstall itaclip")
    path = find_config(preset)
    if path is None:
        raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(presets())}")
    return Config.fromfile(str(path), import_custom_modules=import_custom_modules)


def default_preset(background: bool) -> str:
    """Settings for your own classes: Pascal VOC's with a background class, COCO-Stuff's without."""
    return "voc21" if background else "coco_stuff164k"


def resize_step(cfg: "Config") -> tuple[tuple[int, int] | None, bool]:
    """``(scale, keep_ratio)`` of the preset's test ``Resize`` (``(None, True)`` when it has none)."""
    for step in cfg.test_dataloader.dataset.get("pipeline") or cfg.get("test_pipeline") or []:
        if step.get("type") == "Resize":
            return tuple(step["scale"]), bool(step.get("keep_ratio", False))
    return None, True
