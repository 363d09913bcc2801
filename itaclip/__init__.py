"""ITACLIP: training-free open-vocabulary semantic segmentation with a frozen CLIP.

Importing the package makes mmsegmentation importable on mmcv-lite (see
:mod:`itaclip.compat`) and registers :class:`ITACLIPSegmentor` in mmseg's
``MODELS`` (also as the paper's ``ITACLIP_Segmentor``).
"""
from . import compat

compat.install()

from .segmentor import ITACLIPSegmentor  # noqa: E402  (after the mmcv shim)
from . import methods  # noqa: F401,E402  (registers SCLIP, NACLIP and ClearCLIP under their authors' names)
from . import datasets  # noqa: F401,E402  (registers data sets)
from . import hooks  # noqa: F401,E402  (registers eval.py's hook)
from .weights import WeightsError, load_clip  # noqa: E402
from .text import TextFileError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ITACLIPSegmentor", "TextFileError", "WeightsError", "load_clip", "__version__"]
