"""Registers the package's models, data sets and hooks in mmseg's registries.

Configs name it in ``custom_imports``; in Python, ``import itaclip.models``
before ``MODELS.build(...)``. (``import itaclip`` alone loads nothing heavy,
so that the command starts at once.)
"""
from . import datasets, hooks  # noqa: F401
from .methods import ClearCLIPSegmentor, ITACLIPSegmentor, NACLIPSegmentor, SCLIPSegmentor  # noqa: F401
from .segmentor import TrainingFreeSegmentor  # noqa: F401
