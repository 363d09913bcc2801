"""Section 2: the fused scaled-dot-product form equals the literal attention maps, for every kernel."""
import pytest
import torch
import torch.nn.functional as F

from itaclip import backbone, kernels, load_clip
from itaclip.settings import SettingError

BUILT_IN = ("qk", "qq", "kk", "qq+kk", "kk+gaussian", "gaussian", "identity")


def context(block, grid=(4, 4)):
    kernel = kernels.get_kernel(block.attention)
    return kernels.KernelContext(grid, block, kernel.prepare(grid, block, torch.device("cpu")))


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


def test_the_built_in_kernels_are_registered():
    assert set(BUILT_IN) <= set(kernels.KERNELS)


@pytest.mark.parametrize("attention", BUILT_IN)
@pytest.mark.parametrize("fused_blocks", [0, 3])
def test_fused_equals_maps(attention, fused_blocks):
    """((1-w) A_last + w mean(A_kept)) @ v by scaled-dot-product calls equals it with explicit maps."""
    g = torch.Generator().manual_seed(0)
    last = tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(3))
    kept = [tuple(torch.randn(2, 3, 17, 8, generator=g) for _ in range(2)) for _ in range(fused_blocks)]
    block = backbone.LastBlock(attention=attention, fuse_weight=0.4, gaussian_std=2.0)
    fused = backbone.mixed_attention(last, kept, block, context(block), fused=True)
    literal = backbone.mixed_attention(last, kept, block, context(block), fused=False)
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-5)


def test_map_rows_sum_as_their_kernels_say():
    """Self-self maps add two softmaxes (rows sum to 2); the others are one softmax; identity keeps v."""
    q, k = torch.randn(2, 1, 4, 17, 8).unbind(0)
    for attention in BUILT_IN:
        block = backbone.LastBlock(attention=attention)
        rows = kernels.get_kernel(attention).attention_map(q, k, context(block)).sum(-1)
        expected = 2.0 if attention == "qq+kk" else 1.0
        torch.testing.assert_close(rows, torch.full((1, 4, 17), expected))
    identity = kernels.get_kernel("identity").attention_map(q, k, context(backbone.LastBlock(attention="identity")))
    torch.testing.assert_close(identity, torch.eye(17).expand(1, 4, 17, 17))


def test_neighbourhood_bias_is_a_gaussian_of_patch_distance():
    """G[i, j] = exp(-d^2 / 2 std^2) between patches; the class token's row and column are 0."""
    h, w, std = 3, 5, 2.0
    bias = kernels.neighbourhood_bias(h, w, std)
    assert bias.shape == (1 + h * w, 1 + h * w)
    assert bias[0].abs().sum() == 0 and bias[:, 0].abs().sum() == 0
    rows, cols = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    dist2 = (rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2
    torch.testing.assert_close(bias[1:, 1:], torch.exp(-dist2 / (2 * std ** 2)).float(), atol=2e-7, rtol=0)


def test_recipe_is_checked():
    with pytest.raises(SettingError, match="attention='qv': attention must be the name of a registered attention "
                                           "kernel \\(qk, qq, kk, qq\\+kk"):
        backbone.LastBlock(attention="qv")
    with pytest.raises(SettingError, match="gaussian_std=0: gaussian_std must be a finite number above 0"):
        backbone.LastBlock(attention="kk+gaussian", gaussian_std=0)
    with pytest.raises(SettingError, match="gaussian_std=-1: gaussian_std must be a finite number above 0"):
        backbone.LastBlock(attention="qq", gaussian_std=-1)
    with pytest.raises(SettingError, match="fuse_weight=1.5: fuse_weight must be a number from 0 to 1"):
        backbone.LastBlock(fuse_weight=1.5)
    assert backbone.LastBlock(fuse_blocks=[7, 8]).fuse_blocks == (7, 8)  # a config's list, frozen


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
    model = load_clip(str(tiny_checkpoint)).model
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


# --- the encoder's hooks: token refinement, extra passes of the last block, a second vision model -----------

class Recording(backbone.DenseEncoder):
    """Identity hooks that record what they were given."""

    def __init__(self, block=backbone.ITACLIP):
        super().__init__(block)
        self.seen = []

    def between_blocks(self, index, x, state):
        self.seen.append((index, tuple(x.shape), state.grid))
        return x


def test_hooks_left_alone_change_nothing(tiny_checkpoint):
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(2, 3, 112, 160)
    encoder = Recording()
    torch.testing.assert_close(encoder(visual, images), backbone.dense_features(visual, images))
    blocks = len(visual.transformer.resblocks)
    assert [index for index, _, _ in encoder.seen] == list(range(1, blocks))  # after every block but the last
    assert all(grid == (7, 10) for _, _, grid in encoder.seen)


def test_between_blocks_refines_the_tokens_the_next_blocks_read(tiny_checkpoint):
    """A token repair after block L-1 (SC-CLIP's place) reaches the output; after block 1 it is carried on."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(1, 3, 112, 112)

    class ZeroPatch(backbone.DenseEncoder):
        def __init__(self, at):
            super().__init__()
            self.at = at

        def between_blocks(self, index, x, state):
            if index == self.at:
                x = x.clone()
                x[:, 5] = 0  # one patch token repaired (here: zeroed)
            return x

    plain = backbone.dense_features(visual, images)
    for at in (1, len(visual.transformer.resblocks) - 1):
        assert not torch.allclose(ZeroPatch(at)(visual, images), plain)


def test_a_two_pass_last_block(tiny_checkpoint):
    """A method with a second pass of the last block calls attention_output again (here on the first pass's
    output); the fused and literal forms still agree."""
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(1, 3, 112, 144)

    class TwoPass(backbone.DenseEncoder):
        def last_block(self, block, x, state, fused=True):
            first = self.attention_output(block, x, state, fused)
            return self.attention_output(block, x + first, state, fused)

    fused, literal = TwoPass()(visual, images), TwoPass()(visual, images, fused=False)
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(fused, backbone.dense_features(visual, images))


class PatchFeatures(torch.nn.Module):
    """A stand-in second vision model: one linear map of 8 x 8 patches (a DINO-like patch size 8)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 12, 8, 8)

    def forward(self, images):
        return self.embed(images).flatten(2).transpose(1, 2)  # (B, T', 12)


class GuidedKernel(kernels.AttentionKernel):
    """Attention from the guide's features pooled onto CLIP's grid: softmax(g g^T), class token kept on itself."""

    def attention_map(self, q, k, context):
        grid_h, grid_w = context.grid
        b, t = q.shape[0], q.shape[-2]
        guide = context.guide.transpose(1, 2)  # (B, D, T')
        side = int(guide.shape[-1] ** 0.5)
        guide = guide.reshape(b, -1, side, side)
        guide = F.adaptive_avg_pool2d(guide, (grid_h, grid_w)).flatten(2).transpose(1, 2)
        guide = F.normalize(guide, dim=-1)
        patches = (10 * guide @ guide.transpose(1, 2)).softmax(-1)  # (B, hw, hw)
        full = torch.zeros(b, t, t, dtype=q.dtype)
        full[:, 0, 0] = 1
        full[:, 1:, 1:] = patches
        return full[:, None].expand(-1, q.shape[1], -1, -1)


def test_a_second_vision_model_guides_the_last_block(tiny_checkpoint):
    """The guide slot: its patch features reach the kernel as context.guide, and the guide moves with the
    encoder (a submodule)."""
    kernels.register_kernel("test-guided", replace=True)(GuidedKernel)
    visual = load_clip(str(tiny_checkpoint)).visual
    images = torch.randn(2, 3, 112, 112)
    block = backbone.LastBlock(attention="test-guided", fuse_blocks=(), residual=False)
    encoder = backbone.DenseEncoder(block, guide=PatchFeatures())
    assert "guide.embed.weight" in dict(encoder.named_parameters())
    out = encoder(visual, images)
    assert out.shape == (2, 1 + 7 * 7, visual.proj.shape[1])
    with torch.no_grad():
        encoder.guide.embed.weight.mul_(-2)
    assert not torch.allclose(encoder(visual, images), out)


def test_a_kernel_name_is_taken_once():
    with pytest.raises(ValueError, match="'qk' is registered already"):
        kernels.register_kernel("qk")(GuidedKernel)
