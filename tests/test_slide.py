"""Section 5: the window grid, and stitching windows back into one canvas."""
import pytest
import torch
import torch.nn.functional as F

from itaclip.slide import Window, coverage, crop_windows, stitch, window_grid


def grid_by_formula(h, w, crop, stride):
    """Section 5 verbatim."""
    out = []
    for i in range(max(h - crop + stride - 1, 0) // stride + 1):
        for j in range(max(w - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(i * stride + crop, h), min(j * stride + crop, w)
            out.append((max(y2 - crop, 0), y2, max(x2 - crop, 0), x2))
    return out


@pytest.mark.parametrize("h,w", [(100, 150), (224, 224), (224, 300), (300, 250), (336, 448), (225, 500)])
def test_grid_matches_section_5(h, w):
    """Smaller than, equal to and larger than the crop; every pixel covered; one window size."""
    windows = window_grid(h, w, 224, 28)
    assert [tuple(x) for x in windows] == grid_by_formula(h, w, 224, 28)
    assert len({(x.y2 - x.y1, x.x2 - x.x1) for x in windows}) == 1
    assert (coverage(windows, h, w) >= 1).all()


def test_known_grids():
    """A few grids written out by hand."""
    assert window_grid(100, 150, 224, 28) == [Window(0, 100, 0, 150)]
    assert window_grid(224, 224, 224, 28) == [Window(0, 224, 0, 224)]
    rows = window_grid(300, 224, 224, 28)
    assert [(x.y1, x.y2) for x in rows] == [(0, 224), (28, 252), (56, 280), (76, 300)]


def test_stitch_averages_like_the_canvas_loop():
    """Upsample-and-add per window, divided by coverage, equals the paper's pad-and-add loop."""
    image = torch.randn(3, 250, 260)
    windows = window_grid(250, 260, 224, 28)
    assert crop_windows(image, windows).shape == (len(windows), 3, 224, 224)
    grid = torch.randn(len(windows), 4, 14, 14)
    canvas = stitch(grid, windows, 250, 260) / coverage(windows, 250, 260)
    preds, count = torch.zeros(1, 4, 250, 260), torch.zeros(1, 1, 250, 260)
    for g, w in zip(grid, windows):
        logit = F.interpolate(g[None], size=(224, 224), mode="bilinear")
        preds += F.pad(logit, (w.x1, 260 - w.x2, w.y1, 250 - w.y2))
        count[..., w.y1:w.y2, w.x1:w.x2] += 1
    torch.testing.assert_close(canvas, (preds / count)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("out_size,in_size", [(224, 14), (200, 12), (97, 6), (5, 9), (14, 14)])
def test_bilinear_matrix_equals_interpolate(out_size, in_size):
    """The 1-D map is exactly F.interpolate's bilinear (align_corners=False), both axes at once."""
    from itaclip.slide import bilinear_matrix

    x = torch.randn(3, in_size, in_size + 2)
    expected = F.interpolate(x[None], size=(out_size, out_size + 5), mode="bilinear", align_corners=False)[0]
    got = bilinear_matrix(out_size, in_size) @ x @ bilinear_matrix(out_size + 5, in_size + 2).T
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
