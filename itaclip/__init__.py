"""ITACLIP: training-free open-vocabulary semantic segmentation with a frozen CLIP.

Importing the package is light. ``import itaclip.models`` registers
:class:`ITACLIPSegmentor` (also as the paper's ``ITACLIP_Segmentor``), the
other methods, the neutral :class:`TrainingFreeSegmentor`, data sets and hooks in mmseg's registries, as the configs'
``custom_imports`` do; the names below load on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
_LAZY = {"ITACLIPSegmentor": "itaclip.models", "TrainingFreeSegmentor": "itaclip.models",
         "load_clip": "itaclip.weights", "WeightsError": "itaclip.fetch", "TextFileError": "itaclip.class_files",
         "SettingError": "itaclip.settings"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'itaclip' has no attribute {name!r}")
