"""Section 5, PAMR: shifted slices with precomputed affinities equal the spec, written out directly."""
import pytest
import torch

from itaclip import pamr, reference

NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def pamr_direct(image, mask, steps, dilations):
    """Section 5 verbatim, with clamped indices standing for replicate padding."""
    _, _, h, w = image.shape
    rows, cols = torch.arange(h), torch.arange(w)

    def at(x, dy, dx):
        return x[:, :, (rows + dy).clamp(0, h - 1)][:, :, :, (cols + dx).clamp(0, w - 1)]

    samples, affinities = [], []
    for d in dilations:
        samples.append(image)
        for dy, dx in NEIGHBOURS:
            samples.append(at(image, dy * d, dx * d))
    sigma = torch.stack(samples, 2).std(2)  # unbiased, 9 values per dilation
    for d in dilations:
        for dy, dx in NEIGHBOURS:
            affinities.append((-(image - at(image, dy * d, dx * d)).abs() / (1e-8 + 0.1 * sigma)).mean(1))
    weights = torch.stack(affinities, 1).softmax(1)
    for _ in range(steps):
        shifted = [at(mask, dy * d, dx * d) for d in dilations for dy, dx in NEIGHBOURS]
        mask = sum(weights[:, n:n + 1] * s for n, s in enumerate(shifted))
    return mask


@pytest.mark.parametrize("dilations,size", [((8, 16), (40, 53)), ((1, 2), (9, 11)), ((3,), (20, 7))])
def test_refine_equals_direct_transcription(dilations, size):
    """Fast PAMR equals a literal reading of section 5, borders included."""
    g = torch.Generator().manual_seed(1)
    image = torch.randn(1, 3, *size, generator=g, dtype=torch.float64)
    mask = torch.randn(1, 5, *size, generator=g, dtype=torch.float64)
    expected = pamr_direct(image, mask, 4, dilations)
    torch.testing.assert_close(pamr.refine(image, mask, 4, dilations), expected)
    torch.testing.assert_close(pamr.refine(image, mask, 4, dilations, channels_per_chunk=2), expected)
    torch.testing.assert_close(reference.pamr_conv(image, mask, 4, dilations), expected)


def test_affinity_is_a_distribution():
    """Weights over the 8 x len(dilations) neighbours are positive and sum to 1."""
    weights = pamr.affinity(torch.randn(2, 3, 30, 31), (8, 16))
    assert weights.shape == (2, 16, 30, 31)
    assert (weights > 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 30, 31))


def test_zero_steps_and_constant_mask():
    """No steps leaves the mask; a constant mask is a fixed point."""
    image, mask = torch.randn(1, 3, 20, 20), torch.randn(1, 2, 20, 20)
    assert pamr.refine(image, mask, 0) is mask
    constant = torch.full((1, 2, 20, 20), 0.25)
    torch.testing.assert_close(pamr.refine(image, constant, 3), constant)
