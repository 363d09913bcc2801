"""Registers the package's models, data sets and hooks in mmseg's registries.

Configs name it in ``custom_imports``; in Python, ``import itaclip.models``
before ``MODELS.build(...)``. (``import itaclip`` alone loads nothing heavy,
so that the command starts at once.)
"""
from . import datasets, hooks, methods  # noqa: F401
from .segmentor import ITACLIPSegmentor  # noqa: F401
