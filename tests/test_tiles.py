"""The full-size stages in tiles equal the whole image at once (itaclip.tiles)."""
import pytest
import torch
import torch.nn.functional as F

from itaclip import pamr, tiles
from itaclip.postprocess import postprocess
from itaclip.slide import Window

SIZE = (150, 197)  # full size; the source is at (40, 52), like a network input
QUERY_IDX = torch.tensor([0, 1, 1, 2, 3, 4, 4, 5])  # 8 queries, 6 classes (two with synonyms)
DILATIONS, STEPS = (2, 5), 3  # halo 15: a tile of 37 pixels is cut well inside it


def scene(seed: int = 0):
    """Blobby logits and an image with edges: objects that tiles cut through, flat areas and borders."""
    g = torch.Generator().manual_seed(seed)
    source = F.interpolate(torch.randn(1, len(QUERY_IDX), 5, 7, generator=g), size=(40, 52), mode="bilinear")[0]
    image = torch.randn(3, 40, 52, generator=g).mul_(0.2)
    image[:, 10:25, 5:30] += 2.0  # a bright rectangle
    image[:, 30:] = 0.7  # a flat band: PAMR's spread is zero there
    return source * 0.3, image


def settings(**changes) -> tiles.FullSize:
    return tiles.FullSize(**dict(dict(query_idx=QUERY_IDX, num_classes=6, logit_scale=40.0, pamr_steps=STEPS,
                                      pamr_stride=DILATIONS), **changes))


def untiled(source, image, s: tiles.FullSize):
    """The paper's order on whole tensors: F.interpolate, PAMR on the whole image, postprocess."""
    logits = F.interpolate(source[None], size=SIZE, mode="bilinear", align_corners=False)
    if s.pamr_steps > 0:
        guide = F.interpolate(image[None], size=SIZE, mode="bilinear", align_corners=False)
        logits = pamr.refine(guide, logits, s.pamr_steps, s.pamr_stride)
    return postprocess(logits[0], s.query_idx, s.num_classes, s.logit_scale, s.prob_thd, s.area_thd, s.closing,
                       s.renormalise)


@pytest.mark.parametrize("region", [Window(0, 150, 0, 197), Window(37, 74, 100, 197), Window(149, 150, 0, 1),
                                    Window(3, 90, 5, 6)])
def test_upsample_of_a_region_equals_a_crop_of_the_whole(region):
    source, _ = scene()
    whole = F.interpolate(source[None], size=SIZE, mode="bilinear", align_corners=False)[0]
    got = tiles.upsample(source, SIZE, region)
    torch.testing.assert_close(got, whole[:, region.y1:region.y2, region.x1:region.x2], atol=1e-6, rtol=0)


@pytest.mark.parametrize("steps", [0, STEPS], ids=["no-pamr", "pamr"])
@pytest.mark.parametrize("area_thd", [None, 0.03], ids=["all-classes", "area_thd"])
@pytest.mark.parametrize("prob_thd", [0.0, 0.6], ids=["no-prob_thd", "prob_thd"])
@pytest.mark.parametrize("background", [True, False], ids=["background", "no-background"])
def test_tiles_equal_the_whole_image(steps, area_thd, prob_thd, background):
    """Probabilities within 1e-5 and identical labels, with tiles of 37 pixels cutting through objects.

    With a background: the closing and no renormalising (ITACLIP); without: the raw argmax and
    renormalised probabilities (NACLIP's way), so both label types and both stores are covered.
    """
    source, image = scene()
    s = settings(pamr_steps=steps, area_thd=area_thd, prob_thd=prob_thd, closing=background,
                 renormalise=not background)
    expected_probs, expected_labels = untiled(source, image, s)
    grid = tiles.tile_grid(SIZE, 37)
    assert len(grid) == 5 * 6
    for keep in (True, False):  # relabelling after area_thd from stored probabilities, or by computing again
        probs, labels = tiles.full_size(source, image, SIZE, s, keep_probs=keep, tiles=grid)
        assert torch.equal(labels, expected_labels[0])
        if keep:
            torch.testing.assert_close(probs, expected_probs, atol=1e-5, rtol=0)
        else:
            assert probs is None
    if area_thd is not None:  # the case does drop a class that labels pixels before the rule
        before = untiled(source, image, settings(pamr_steps=steps, prob_thd=prob_thd, closing=False))[1]
        assert (before == 3).sum() > 100 and not (expected_labels == 3).any()


def test_a_halo_one_pixel_short_is_caught():
    """The exact halo is steps * max(dilations): one pixel less changes the results at tile edges."""
    source, image = scene()
    s = settings()
    grid = tiles.tile_grid(SIZE, 37)
    expected_probs, _ = untiled(source, image, s)
    exact, _ = tiles.full_size(source, image, SIZE, s, tiles=grid, halo=s.halo)
    short, _ = tiles.full_size(source, image, SIZE, s, tiles=grid, halo=s.halo - 1)
    torch.testing.assert_close(exact, expected_probs, atol=1e-5, rtol=0)
    assert (short - expected_probs).abs().max() > 1e-3


def test_plan_fits_the_budget():
    """One tile when the image fits; else tiles within the budget covering every pixel once."""
    s = settings(budget=2**30)
    assert tiles.plan(SIZE, s) == [Window(0, 150, 0, 197)]
    s = settings(budget=8 * 2**20)
    grid = tiles.plan((1000, 1500), s)
    assert len(grid) > 1
    cover = torch.zeros(1000, 1500, dtype=torch.int64)
    for tile in grid:
        cover[tile.y1:tile.y2, tile.x1:tile.x2] += 1
        assert s.tile_cost(tile, (1000, 1500)) <= s.budget
    assert (cover == 1).all()


def test_planned_tiles_equal_the_whole_image():
    """Through the budget rather than a given grid: several tiles, the same labels."""
    source, image = scene(1)
    s = settings(budget=300_000, area_thd=0.03)
    assert len(tiles.plan(SIZE, s)) > 1
    probs, labels = tiles.full_size(source, image, SIZE, s)
    expected_probs, expected_labels = untiled(source, image, s)
    assert torch.equal(labels, expected_labels[0])
    torch.testing.assert_close(probs, expected_probs, atol=1e-5, rtol=0)
