"""Section 2: the fused scaled-dot-product form equals the literal attention maps."""
import pytest
import torch
import torch.nn.functional as F

from itaclip import backbone, load_clip


RECIPES = {
    "itaclip": backbone.ITACLIP,
    "itaclip_qk": backbone.LastBlock(attention="qk"),
    "sclip": backbone.LastBlock(attention="qq+kk", ffn=True, fuse_blocks=()),
    "naclip": backbone.LastBlock(attention="kk+gaussian", residual=False, fuse_blocks=(), gaussian_std=3.0),
    "naclip_nonly": backbone.LastBlock(attention="gaussian", residual=False, fuse_blocks=()),
    "clearclip": backbone.LastBlock(attention="qq", residual=False, fuse_blocks=()),
    "maskclip": backbone.LastBlock(attention="identity", residual=False, fuse_blocks=()),
    "kk_fused_ffn": backbone.LastBlock(attention="kk", ffn=True, fuse_blocks=(2, 5), fuse_weight=0.3),
}


@pytest.mark.parametrize("attention", backbone.ATTENTIONS)
@pytest.mark.parametrize("fused_blocks", [0, 3])
def test_fused_equals_maps(attention, fused_blocks):
    """((1-w) A_last + w mean(A_kept)) @ v by scaled-dot-product calls equals it with explicit maps."""
    g = torch.Generator().manual_seed(0)
    last = tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(3))
    kept = [tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(2)) for _ in range(fused_blocks)]
    recipe = backbone.LastBlock(attention=attention, fuse_weight=0.4)
    bias = backbone.neighbourhood_bias(4, 4, 2.0)
    fused = backbone.mixed_attention(last, kept, recipe, bias, fused=True)
    literal = backbone.mixed_attention(last, kept, recipe, bias, fused=False)
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-5)


def test_map_rows_sum_as_their_kernels_say():
    """Self-self maps add two softmaxes (rows sum to 2); the others are one softmax; identity keeps v."""
    q, k = torch.randn(2, 1, 4, 17, 8).unbind(0)
    bias = backbone.neighbourhood_bias(4, 4, 5.0)
    for attention in backbone.ATTENTIONS:
        rows = backbone.attention_map(q, k, attention, bias).sum(-1)
        expected = 2.0 if attention == "qq+kk" else 1.0
        torch.testing.assert_close(rows, torch.full((1, 4, 17), expected))
    torch.testing.assert_close(backbone.attention_map(q, k, "identity"), torch.eye(17).expand(1, 4, 17, 17))


def test_neighbourhood_bias_is_a_gaussian_of_patch_distance():
    """G[i, j] = exp(-d^2 / 2 std^2) between patches; the class token's row and column are 0."""
    h, w, std = 3, 5, 2.0
    bias = backbone.neighbourhood_bias(h, w, std)
    assert bias.shape == (1 + h * w, 1 + h * w)
    assert bias[0].abs().sum() == 0 and bias[:, 0].abs().sum() == 0
    rows, cols = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    dist2 = (rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2
    torch.testing.assert_close(bias[1:, 1:], torch.exp(-dist2 / (2 * std ** 2)).float(), atol=2e-7, rtol=0)


def test_recipe_is_checked():
    with pytest.raises(ValueError, match="is not one of qk, qq"):
        backbone.LastBlock(attention="qv")
    with pytest.raises(ValueError, match="gaussian_std must be > 0"):
        backbone.LastBlock(attention="kk+gaussian", gaussian_std=0)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_dense_features_fused_equals_map_form(tiny_checkpoint, recipe):
    """The whole vision forward gives the same tokens in both forms, for a non-square grid."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(2, 3, 176, 224)
    fused = backbone.dense_features(visual, images, RECIPES[recipe], fused=True)
    literal = backbone.dense_features(visual, images, RECIPES[recipe], fused=False)
    assert fused.shape == (2, 1 + 11 * 14, visual.proj.shape[1])
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-4)


def test_plain_recipe_is_clip(tiny_checkpoint):
    """q·k attention with residual and feed-forward kept and nothing fused is CLIP's own forward."""
    model = load_clip(str(tiny_checkpoint))
    images = torch.randn(2, 3, 224, 224)
    plain = backbone.LastBlock(attention="qk", residual=True, ffn=True, fuse_blocks=())
    ours = backbone.dense_features(model.visual, images, plain)[:, 0]
    torch.testing.assert_close(ours, model.encode_image(images), atol=1e-5, rtol=1e-4)


def test_last_block_has_no_feed_forward(tiny_checkpoint):
    """Changing the last block's MLP or ln_2 changes nothing; changing its attention does."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(1, 3, 224, 224)
    before = backbone.dense_features(visual, images)
    with_ffn = backbone.dense_features(visual, images, RECIPES["sclip"])
    last = visual.transformer.resblocks[-1]
    saved = last.mlp.c_fc.weight.clone()
    try:
        last.mlp.c_fc.weight.mul_(3.0)
        torch.testing.assert_close(backbone.dense_features(visual, images), before)
        assert not torch.allclose(backbone.dense_features(visual, images, RECIPES["sclip"]), with_ffn)
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
