"""Tests for :mod:`itaclip.compat`, the pure-PyTorch ``mmcv.ops`` that lets mmseg import on mmcv-lite."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from itaclip import compat

REPO = Path(__file__).resolve().parents[1]
needs_shim = pytest.mark.skipif(compat.compiled_ops_available(),
                                reason="compiled mmcv ops are installed, so the shim is not in use")


def run_clean(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (clean sys.modules) and return the JSON it prints last."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- installing


@pytest.mark.slow
def test_importing_itaclip_makes_mmseg_importable():
    """In a clean process, `import itaclip.models` lets mmseg.models/datasets/evaluation import (shim iff no
    compiled ops); `import itaclip` alone imports neither torch nor mmseg."""
    light = run_clean("""
        import json, sys
        import itaclip
        print(json.dumps(sorted(m for m in ("torch", "mmseg", "mmcv") if m in sys.modules)))
    """)
    assert light == []
    result = run_clean("""
        import json, sys
        import itaclip.models
        import mmseg.models, mmseg.datasets, mmseg.evaluation
        import mmcv, mmcv.ops
        from itaclip.compat import compiled_ops_available
        print(json.dumps({
            "compiled": compiled_ops_available(),
            "shim": getattr(mmcv.ops, "__itaclip_shim__", False),
            "same": sys.modules["mmcv.ops"] is mmcv.ops,
        }))
    """)
    assert result["same"]
    assert result["shim"] is (not result["compiled"])


def test_install_again_is_a_noop():
    """A second install() (itaclip's import already ran one) returns False and keeps the module."""
    before = sys.modules.get("mmcv.ops")
    assert compat.install() is False
    assert sys.modules.get("mmcv.ops") is before


@pytest.mark.slow
def test_install_leaves_compiled_mmcv_alone():
    """With compiled ops reported present and no mmcv.ops imported yet, install() adds nothing."""
    result = run_clean(f"""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("compat_probe", {str(REPO / "itaclip" / "compat.py")!r})
        compat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compat)  # not via the itaclip package, whose import would install the shim
        absent_before = "mmcv.ops" not in sys.modules
        real = compat.compiled_ops_available
        compat.compiled_ops_available = lambda: True
        patched = compat.install()
        absent_after = "mmcv.ops" not in sys.modules
        compat.compiled_ops_available = real  # control: the same call without the patch
        unpatched = compat.install()
        print(json.dumps({{"absent_before": absent_before, "patched": patched,
                          "absent_after": absent_after, "compiled": real(), "unpatched": unpatched}}))
    """)
    assert result["absent_before"]
    assert result["patched"] is False and result["absent_after"]
    assert result["unpatched"] is (not result["compiled"])


# --------------------------------------------------------------------------- names that need compiled ops


@needs_shim
def test_compiled_only_names_raise_module_not_found():
    """`from mmcv.ops import CrissCrossAttention` raises ModuleNotFoundError, as mmseg's guards expect."""
    with pytest.raises(ModuleNotFoundError) as excinfo:
        from mmcv.ops import CrissCrossAttention  # noqa: F401
    assert excinfo.value.name == "mmcv.ops"
    assert "CrissCrossAttention" in str(excinfo.value) and "compiled mmcv" in str(excinfo.value)


@needs_shim
def test_dunder_lookups_on_the_shim_are_plain_attribute_errors():
    """Probing a missing dunder (as tools do with hasattr) gives AttributeError, not ModuleNotFoundError."""
    import mmcv.ops

    assert not hasattr(mmcv.ops, "__wrapped__")


def test_sigmoid_focal_loss_raises_a_clear_runtime_error():
    """sigmoid_focal_loss exists for mmseg's import but calling it says compiled mmcv is needed."""
    with pytest.raises(RuntimeError, match="compiled mmcv"):
        compat.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), 2.0, 0.25)


# --------------------------------------------------------------------------- point_sample


def pixel_centres(height: int, width: int, align_corners: bool = False) -> torch.Tensor:
    """(H, W, 2) points in [0, 1], (x, y) order, that sit exactly on each pixel."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                            torch.arange(width, dtype=torch.float64), indexing="ij")
    if align_corners:
        return torch.stack([xs / (width - 1), ys / (height - 1)], dim=-1)
    return torch.stack([(xs + 0.5) / width, (ys + 0.5) / height], dim=-1)


def manual_bilinear(image: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Bilinear value of image (C, H, W) at [0, 1] coordinates, align_corners=False, inside the centres."""
    _, height, width = image.shape
    px, py = x * width - 0.5, y * height - 0.5
    x0, y0 = int(px // 1), int(py // 1)
    x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
    wx, wy = px - x0, py - y0
    return ((1 - wy) * ((1 - wx) * image[:, y0, x0] + wx * image[:, y0, x1])
            + wy * ((1 - wx) * image[:, y1, x0] + wx * image[:, y1, x1]))


@pytest.mark.parametrize("align_corners", [False, True])
def test_point_sample_on_pixels_returns_those_pixels(align_corners):
    """Points on pixels give the pixel values, for (N, P, 2) and (N, Hg, Wg, 2) layouts."""
    torch.manual_seed(0)
    image = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    grid = pixel_centres(4, 5, align_corners).expand(2, 4, 5, 2)

    dense = compat.point_sample(image, grid, align_corners=align_corners)
    assert dense.shape == (2, 3, 4, 5)
    torch.testing.assert_close(dense, image)

    picks = [(0, 0), (3, 4), (1, 2), (2, 0), (0, 4)]
    points = torch.stack([grid[:, i, j] for i, j in picks], dim=1)  # (N, P, 2)
    flat = compat.point_sample(image, points, align_corners=align_corners)
    assert flat.shape == (2, 3, len(picks))
    torch.testing.assert_close(flat, torch.stack([image[:, :, i, j] for i, j in picks], dim=-1))


def test_point_sample_between_pixels_is_bilinear():
    """Random points between pixel centres match a hand-written bilinear interpolation in both layouts."""
    gen = torch.Generator().manual_seed(1)
    image = torch.randn(2, 3, 6, 7, dtype=torch.float64, generator=gen)
    low = torch.tensor([0.5 / 7, 0.5 / 6], dtype=torch.float64)
    points = low + torch.rand(2, 12, 2, dtype=torch.float64, generator=gen) * (1 - 2 * low)

    expected = torch.stack([torch.stack([manual_bilinear(image[n], *points[n, p].tolist())
                                         for p in range(12)], dim=-1) for n in range(2)])
    torch.testing.assert_close(compat.point_sample(image, points), expected)
    grid_out = compat.point_sample(image, points.view(2, 3, 4, 2))
    torch.testing.assert_close(grid_out, expected.view(2, 3, 3, 4))


@pytest.mark.parametrize("align_corners", [False, True])
def test_point_sample_is_grid_sample_on_rescaled_points(align_corners):
    """Random [0, 1] points (borders included) equal F.grid_sample at 2 * p - 1, as documented."""
    gen = torch.Generator().manual_seed(2)
    image = torch.randn(2, 4, 8, 9, generator=gen)
    points = torch.rand(2, 5, 6, 2, generator=gen)
    points[0, 0, :3] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])

    reference = F.grid_sample(image, 2 * points - 1, align_corners=align_corners)
    torch.testing.assert_close(compat.point_sample(image, points, align_corners=align_corners), reference)
    flat = compat.point_sample(image, points.view(2, 30, 2), align_corners=align_corners)
    torch.testing.assert_close(flat, reference.view(2, 4, 30))
