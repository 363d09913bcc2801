"""Section 4: the five views, and their mix at patch-grid resolution."""
import math

import torch
import torch.nn.functional as F

from itaclip import views


def test_view_order_and_content():
    """crop, grayscale, blur, vertical flip, horizontal flip, in that order."""
    crops = torch.randn(2, 3, 32, 40)
    out = views.make_views(crops)
    assert out.shape == (5, 2, 3, 32, 40)
    torch.testing.assert_close(out[0], crops)
    gray = 0.2989 * crops[:, 0] + 0.587 * crops[:, 1] + 0.114 * crops[:, 2]
    torch.testing.assert_close(out[1], gray[:, None].expand(-1, 3, -1, -1))
    torch.testing.assert_close(out[3], crops.flip(-2))
    torch.testing.assert_close(out[4], crops.flip(-1))


def test_blur_is_gaussian_11_sigma_5_reflect():
    """The blur equals a 2-D Gaussian (k=11, sigma=5, normalised) with reflect padding."""
    x = torch.randn(1, 3, 30, 25, dtype=torch.float64)
    r = torch.arange(11, dtype=torch.float64) - 5
    k1 = torch.exp(-0.5 * (r / 5.0) ** 2)
    k1 = k1 / k1.sum()
    kernel = (k1[:, None] * k1[None, :]).expand(3, 1, 11, 11)
    expected = F.conv2d(F.pad(x, [5] * 4, mode="reflect"), kernel, groups=3)
    torch.testing.assert_close(views.blur(x), expected)
    assert math.isclose(float(k1.sum()), 1.0)


def test_blur_equals_torchvision():
    """The separable blur equals torchvision's GaussianBlur(11, 5) on a batch."""
    import torchvision.transforms.functional as TF

    x = torch.randn(4, 3, 40, 37)
    torch.testing.assert_close(views.blur(x), TF.gaussian_blur(x, [11, 11], [5.0, 5.0]), atol=1e-6, rtol=1e-5)


def test_flipped_views_are_flipped_back():
    """If views 4-5 see the flipped image, their logits come back in image orientation."""
    base = torch.randn(3, 7, 9, 11)  # N, Q, h, w
    first = torch.randn(3, 3, 7, 9, 11)
    per_view = torch.cat([first, base.flip(-2)[None], base.flip(-1)[None]])
    out = views.combine_views(per_view, lam=0.7)
    torch.testing.assert_close(out, 0.7 * first.mean(0) + 0.3 * base)


def test_mixing_at_grid_equals_mixing_after_upsampling():
    """Flip-back and lambda-mix before the bilinear upsample equal the paper's order after it."""
    per_view = torch.randn(5, 2, 4, 12, 13)
    size = (200, 215)

    def up(x):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    paper = 0.75 * up(per_view[:3].mean(0)) + 0.25 * (up(per_view[3]).flip(-2) + up(per_view[4]).flip(-1)) / 2
    torch.testing.assert_close(up(views.combine_views(per_view, 0.75)), paper, atol=1e-5, rtol=1e-5)
