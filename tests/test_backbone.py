"""Section 2: the fused scaled-dot-product form equals the literal attention maps."""
import pytest
import torch
import torch.nn.functional as F

from itaclip import backbone, load_clip


@pytest.mark.parametrize("attn_self", [True, False])
def test_fused_equals_maps(attn_self):
    """(0.5*A_last + 0.5*mean(A_kept)) @ v without maps equals it with maps."""
    g = torch.Generator().manual_seed(0)
    last = tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(3))
    kept = [tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(2)) for _ in range(3)]
    fused = backbone.fused_attention(last, kept, attn_self)
    torch.testing.assert_close(fused, backbone.map_attention(last, kept, attn_self), atol=1e-5, rtol=1e-5)


def test_self_self_map_rows_sum_to_two():
    """softmax(qq^T s) + softmax(kk^T s): every row adds up to 2."""
    q, k = torch.randn(2, 1, 4, 5, 8).unbind(0)
    torch.testing.assert_close(backbone.attention_map(q, k).sum(-1), torch.full((1, 4, 5), 2.0))
    torch.testing.assert_close(backbone.attention_map(q, k, False).sum(-1), torch.ones(1, 4, 5))


def test_dense_features_fused_equals_map_form(tiny_checkpoint):
    """The whole vision forward gives the same tokens in both forms, for a non-square grid."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(2, 3, 176, 224)
    fused = backbone.dense_features(visual, images, fused=True)
    literal = backbone.dense_features(visual, images, fused=False)
    assert fused.shape == (2, 1 + 11 * 14, visual.proj.shape[1])
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-4)


def test_last_block_has_no_feed_forward(tiny_checkpoint):
    """Changing the last block's MLP or ln_2 changes nothing; changing its attention does."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(1, 3, 224, 224)
    before = backbone.dense_features(visual, images)
    last = visual.transformer.resblocks[-1]
    saved = last.mlp.c_fc.weight.clone()
    try:
        last.mlp.c_fc.weight.mul_(3.0)
        torch.testing.assert_close(backbone.dense_features(visual, images), before)
    finally:
        last.mlp.c_fc.weight.copy_(saved)


def test_positional_embedding_interpolation(tiny_checkpoint):
    """14x14 keeps the table; other grids use bicubic with scale ((h+0.1)/14, (w+0.1)/14)."""
    visual = load_clip(str(tiny_checkpoint)).visual
    table = visual.positional_embedding
    assert backbone.positional_embedding(visual, 14, 14) is table
    assert backbone.positional_embedding(visual, 7, 28) is table  # same token count: the paper's code keeps it
    out = backbone.positional_embedding(visual, 12, 19)
    dim = table.shape[1]
    grid = table[1:].reshape(1, 14, 14, dim).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, scale_factor=(12.1 / 14, 19.1 / 14), mode="bicubic")
    assert out.shape == (1 + 12 * 19, dim)
    torch.testing.assert_close(out[0], table[0])
    torch.testing.assert_close(out[1:], expected.permute(0, 2, 3, 1).reshape(-1, dim))
