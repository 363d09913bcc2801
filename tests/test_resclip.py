"""ResCLIP (itaclip/resclip.py): the golden cases' intermediates stage by stage, the SFR matrix against a
literal transcription of baselines/resclip.md section 7.4, the patch vote's ties, the switches, its keys.
(Golden predictions on both paths: tests/test_golden.py; configs: tests/test_method_configs.py.)"""
import json
import math

import pytest
import torch
from mmseg.registry import MODELS

import itaclip.models  # noqa: F401  (registers ResCLIPSegmentation)
from itaclip import resclip
from itaclip.backbone import ForwardState
from itaclip.settings import SettingError


def cases(golden_dir):
    folder = golden_dir / "resclip"
    return [(folder, case) for case in json.loads((folder / "cases.json").read_text())["cases"]]


def build(folder, case, checkpoint, **extra):
    keys = dict(case["segmentor"], name_path=str(folder / case["segmentor"]["name_path"]), **extra)
    return MODELS.build(dict(type=case["type"], device="cpu", **{case["weights_key"]: str(checkpoint)}, **keys))


class Recording(resclip.ResCLIPEncoder):
    """Keeps the forward's state (the first pass's probabilities, patch labels and SFR matrix, the kept q, k)."""

    def last_block(self, block, x, state: ForwardState, fused=True):
        self.state = state
        return super().last_block(block, x, state, fused)


def first_window(data, model):
    crop = model.protocol.slide_crop
    image = data["inputs"]
    return image if crop <= 0 else image[..., :crop, :crop]


@pytest.mark.golden
def test_golden_intermediates_stage_by_stage(golden_dir, tiny_checkpoint):
    """RCS map, first-pass probabilities, patch labels (exactly), SFR matrix and the final features."""
    for folder, case in cases(golden_dir):
        model = build(folder, case, tiny_checkpoint)
        data = torch.load(folder / case["file"], weights_only=True)
        encoder = Recording(model.encoder.options, model.last_block, model.protocol.logit_scale)
        encoder.query_features = model.query_features
        with torch.no_grad():
            dense = encoder(model.visual, first_window(data, model), fused=False)
        state = encoder.state
        rcs = sum(((q.shape[-1] ** -0.5 * q) @ k.transpose(-2, -1)).softmax(-1) for q, k in state.kept) / 4
        torch.testing.assert_close(rcs[0], data["attn_rcs"], atol=1e-6, rtol=0)
        torch.testing.assert_close(state.extra["temp_probs"], data["temp_probs"], atol=1e-5, rtol=0)
        assert torch.equal(state.extra["patch_labels"][0], data["patch_labels"]), case["case"]
        torch.testing.assert_close(state.extra["attn_sfr"], data["attn_sfr"], atol=1e-6, rtol=0)
        torch.testing.assert_close(dense, data["dense_features"], atol=1e-4, rtol=1e-4)


def literal_sfr(labels, grid, std, path_test):
    """Section 7.4, pair by pair and point by point."""
    gh, gw = grid
    n = gh * gw
    far = max(gh, gw) - 1
    t = torch.linspace(0, 1, far + 1)
    out = torch.zeros(n, n)
    for m in range(n):
        rm, cm = divmod(m, gw)
        for j in range(n):
            rj, cj = divmod(j, gw)
            if labels[m] != labels[j]:
                continue
            d = max(abs(rm - rj), abs(cm - cj))
            passes = True
            if path_test:
                for k in range(d + 1):
                    r = int(torch.round(torch.tensor(rm, dtype=torch.float32) * (1 - t[k]) + rj * t[k]))
                    c = int(torch.round(torch.tensor(cm, dtype=torch.float32) * (1 - t[k]) + cj * t[k]))
                    passes &= bool(labels[r * gw + c] == labels[m])
            out[m, j] = 1.0 if passes else math.exp(-d / far)
    size = min(n, int(6 * std + 1))
    size += 1 - size % 2
    taps = torch.tensor([math.exp(-(j ** 2) / (2 * std ** 2)) for j in range(-(size // 2), size // 2 + 1)])
    taps = taps / taps.sum()
    blurred = torch.zeros(n, n)
    for m in range(n):
        for j in range(n):
            blurred[m, j] = sum(taps[i] * out[m, j + i - size // 2] for i in range(size) if 0 <= j + i - size // 2 < n)
    return blurred / (blurred.sum(-1, keepdim=True) + 1e-8)


@pytest.mark.parametrize("grid,path_test", [((4, 6), True), ((5, 5), True), ((3, 7), False)])
def test_sfr_matrix_is_the_specs(grid, path_test):
    labels = torch.randint(0, 3, (grid[0] * grid[1],), generator=torch.Generator().manual_seed(sum(grid)))
    got = resclip.sfr_matrix(labels, grid, 1.5, path_test)
    torch.testing.assert_close(got, literal_sfr(labels, grid, 1.5, path_test), atol=1e-6, rtol=1e-5)


def test_a_tied_patch_vote_goes_to_the_smallest_label():
    """Two patches of 2 x 2 pixels: 2-2 ties between labels 3 and 1, and 1-1-1-1 among 4, 2, 5, 0."""
    labels = torch.tensor([[[3, 1, 4, 2], [1, 3, 5, 0]]])
    assert resclip.patch_labels(labels, (1, 2), (2, 2), 6).tolist() == [[[1, 0]]]
    labels = torch.tensor([[[2, 2, 7, 7], [5, 2, 7, 1]]])  # clear majorities stay
    assert resclip.patch_labels(labels, (1, 2), (2, 2), 8).tolist() == [[[2, 7]]]


@pytest.fixture(scope="module")
def voc(golden_dir, tiny_checkpoint):
    folder, case = cases(golden_dir)[0]
    return folder, case, torch.load(folder / case["file"], weights_only=True)


def test_sfr_off_is_the_first_pass_alone(voc, tiny_checkpoint):
    folder, case, data = voc
    full = build(folder, case, tiny_checkpoint)
    one_pass = build(folder, case, tiny_checkpoint, use_sfr=False)
    encoder = Recording(full.encoder.options, full.last_block, full.protocol.logit_scale)
    encoder.query_features = full.query_features
    image = first_window(data, full)
    with torch.no_grad():
        encoder(full.visual, image)
        first = full.visual.ln_post(encoder.state.extra["first"]) @ full.visual.proj
        alone = one_pass.encoder(one_pass.visual, image)
    torch.testing.assert_close(alone, first)
    assert not torch.allclose(alone, full.encoder(full.visual, image))


def test_both_off_is_naclips_attention(voc, tiny_checkpoint):
    """RCS and SFR off: NACLIP's last block and protocol (k·k + Gaussian bias, no residual, renormalised)."""
    folder, case, data = voc
    plain = build(folder, case, tiny_checkpoint, use_rcs=False, use_sfr=False)
    naclip = MODELS.build(dict(type="NACLIP", clip_path=str(tiny_checkpoint), device="cpu", pamr_steps=0,
                               name_path=str(folder / case["segmentor"]["name_path"]), prob_thd=0.1, slide_crop=0))
    a, b = plain.predict(data["inputs"])[0], naclip.predict(data["inputs"])[0]
    torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data, atol=1e-5, rtol=0)
    rcs_only = build(folder, case, tiny_checkpoint, use_sfr=False)
    assert not torch.allclose(rcs_only.predict(data["inputs"])[0].seg_logits.data, a.seg_logits.data)


@pytest.mark.parametrize("keys,line", [
    (dict(temp_thd=None), "temp_thd: ResCLIP needs temp_thd"),
    (dict(attn_rcs_weights=None), "attn_rcs_weights: ResCLIP needs attn_rcs_weights"),
    (dict(area_thd=0.1), "area_thd=0.1: ResCLIP has no area rule"),
    (dict(attn_strategy="sclip"), "ResCLIP's 'sclip' needs arch='w_resi'"),
    (dict(attn_strategy="gem"), "attn_strategy='gem': ResCLIP's attn_strategy must be one of resclip"),
    (dict(attn_sfr_weights=[2.0]), "attn_sfr_weights=(2.0,): attn_sfr_weights must be a pair of numbers"),
])
def test_keys_are_checked_in_one_line(voc, tiny_checkpoint, keys, line):
    folder, case, _ = voc
    with pytest.raises(SettingError) as caught:
        build(folder, case, tiny_checkpoint, **keys)
    assert line in str(caught.value) and "\n" not in str(caught.value)
    assert build(folder, case, tiny_checkpoint, use_sfr=False, temp_thd=None, attn_sfr_weights=None).num_classes


def test_the_variants_run(voc, tiny_checkpoint):
    """RCS and SFR over SCLIP's attention (with residual) and over ClearCLIP's."""
    folder, case, data = voc
    for keys in (dict(arch="w_resi", attn_strategy="sclip"), dict(attn_strategy="clearclip")):
        model = build(folder, case, tiny_checkpoint, **keys)
        fast = model.encoder(model.visual, data["inputs"][..., :112, :144])
        literal = model.encoder(model.visual, data["inputs"][..., :112, :144], fused=False)
        torch.testing.assert_close(fast, literal, atol=1e-4, rtol=1e-4)
