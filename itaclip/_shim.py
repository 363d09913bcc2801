"""Importing this module installs the pure-PyTorch ``mmcv.ops`` where needed (see :mod:`itaclip.compat`).

Every module of the package that imports mmseg imports this one first.
"""
from .compat import install

install()
