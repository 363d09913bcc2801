"""Let mmsegmentation 1.2.2 import on top of mmcv-lite.

mmcv-lite ships ``mmcv/ops`` without its compiled ``mmcv._ext``, so
``import mmcv.ops`` fails, and mmseg imports a few names from it at import
time. When (and only when) the compiled ops are missing, :func:`install`
puts a small pure-PyTorch ``mmcv.ops`` in ``sys.modules``:

* ``point_sample`` works (``grid_sample`` on ``[0, 1]`` coordinates);
* ``sigmoid_focal_loss`` exists but raises when called (training only);
* every other name raises ``ModuleNotFoundError`` on import, which is what
  mmseg's own ``try/except ModuleNotFoundError`` guards expect.

A user with full, compiled mmcv keeps it untouched. Every module of the
package that imports mmseg first imports :mod:`itaclip._shim`, which calls
:func:`install` (this module itself has no import-time effect).
"""
from __future__ import annotations

import importlib.util
import sys
import types
import warnings

import torch
import torch.nn.functional as F

_SHIM_NAME = "mmcv.ops"
_HELP = "install a compiled mmcv (pip install mmcv==2.1.0 -f <OpenMMLab wheel index>) to use it"


def point_sample(input: torch.Tensor, points: torch.Tensor, align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Sample ``input`` (N, C, H, W) at ``points`` given in [0, 1] coordinates.

    ``points`` is (N, P, 2) or (N, Hp, Wp, 2) with (x, y) order; the result is
    (N, C, P) or (N, C, Hp, Wp), as mmcv's compiled-free implementation returns.
    """
    flat = points.dim() == 3
    grid = points.unsqueeze(2) if flat else points
    out = F.grid_sample(input, 2.0 * grid - 1.0, align_corners=align_corners, **kwargs)
    return out.squeeze(3) if flat else out


def sigmoid_focal_loss(*args, **kwargs):
    """Present so mmseg imports; only training with focal loss calls it."""
    raise RuntimeError(f"mmcv.ops.sigmoid_focal_loss needs compiled mmcv ops; {_HELP}")


def _missing(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ModuleNotFoundError(f"mmcv.ops.{name} needs compiled mmcv ops; {_HELP}", name=_SHIM_NAME)


def compiled_ops_available() -> bool:
    """True when mmcv's compiled extension can be found (full mmcv installed)."""
    try:
        return importlib.util.find_spec("mmcv._ext") is not None
    except (ImportError, ValueError):
        return False


def install() -> bool:
    """Install the pure-PyTorch ``mmcv.ops`` if needed; True if it was installed now."""
    if _SHIM_NAME in sys.modules or compiled_ops_available():
        return False
    import mmcv

    # mmcv's transformer bricks warn once that the compiled attention op is absent.
    warnings.filterwarnings("ignore", message="Fail to import ``MultiScaleDeformableAttention``")
    shim = types.ModuleType(_SHIM_NAME, __doc__)
    shim.point_sample = point_sample
    shim.sigmoid_focal_loss = sigmoid_focal_loss
    shim.__getattr__ = _missing
    shim.__itaclip_shim__ = True
    sys.modules[_SHIM_NAME] = shim
    mmcv.ops = shim
    return True
