"""The paper's own code on a tiny random CLIP (../shared/golden): we must reproduce it."""
import json

import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import itaclip.models  # noqa: F401  (registers the segmentor)
from itaclip.slide import patch_padding, window_grid

pytestmark = pytest.mark.golden


def _cases(golden_dir):
    return {c["case"]: c for c in json.loads((golden_dir / "cases.json").read_text())["cases"]}


CASES = ["voc_like", "stuff_like_small", "plain_whole_image", "whole_image_views"]


def build_case(golden_dir, checkpoint, case, **extra):
    """The segmentor of a golden case, built through mmseg's registry, plus the case's tensors."""
    spec = _cases(golden_dir)[case]
    kwargs = {k: v for k, v in spec["segmentor"].items() if k != "reference_dataset_name"}
    kwargs["name_path"] = str(golden_dir / kwargs["name_path"])
    if kwargs.get("auxiliary_text_path"):
        kwargs["auxiliary_text_path"] = str(golden_dir / kwargs["auxiliary_text_path"])
    kwargs.update(extra)
    model = MODELS.build(dict(type="ITACLIPSegmentor", model_name=str(checkpoint), device="cpu", **kwargs))
    return model, torch.load(golden_dir / spec["file"], weights_only=True)


def sample_for(data):
    ori = tuple(int(v) for v in data["ori_shape"])
    shape = tuple(data["inputs"].shape[-2:])
    return SegDataSample(metainfo=dict(ori_shape=ori, img_shape=shape, pad_shape=shape))


@pytest.mark.parametrize("case", CASES)
def test_text_embeddings_match(golden_dir, tiny_checkpoint, case):
    """Mixed query embeddings and query_idx equal the paper's (section 3)."""
    model, data = build_case(golden_dir, tiny_checkpoint, case)
    assert model.query_idx.tolist() == data["query_idx"].tolist()
    torch.testing.assert_close(model.query_features, data["query_features"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("sequential", [False, pytest.param(True, marks=pytest.mark.slow)],  # slow: the paper's
                         ids=["batched", "sequential"])  # one-window order, also held equal in test_segmentor
def test_predict_matches(golden_dir, tiny_checkpoint, case, sequential):
    """seg_logits within 1e-4 and labels >= 99.9 % equal, batched and in the paper's order."""
    model, data = build_case(golden_dir, tiny_checkpoint, case, sequential=sequential)
    out = model.predict(data["inputs"], [sample_for(data)])[0]
    assert out.seg_logits.data.shape == data["seg_logits"].shape
    assert (out.seg_logits.data - data["seg_logits"]).abs().max().item() <= 1e-4
    assert out.pred_sem_seg.data.shape == data["pred_sem_seg"].shape
    agree = (out.pred_sem_seg.data.long() == data["pred_sem_seg"].long()).float().mean().item()
    assert agree >= 0.999


@pytest.mark.parametrize("case", CASES)
def test_logits_before_pamr_match(golden_dir, tiny_checkpoint, case):
    """The sliding-window (or whole-image) logits at ori_shape, before PAMR, match."""
    model, data = build_case(golden_dir, tiny_checkpoint, case, pamr_steps=0)
    logits = model.query_logits(data["inputs"][0], tuple(int(v) for v in data["ori_shape"]))
    torch.testing.assert_close(logits[None], data["logits_before_pamr"], atol=1e-4, rtol=0)


# --- the baselines, against their authors' code (../shared/golden/<method>/) -------------------------------

BASELINES = ("sclip", "naclip", "clearclip", "scclip", "resclip", "proxyclip")


def baseline_cases(golden_dir):
    return [(method, case) for method in BASELINES if (golden_dir / method / "cases.json").is_file()
            for case in json.loads((golden_dir / method / "cases.json").read_text())["cases"]]


def baseline_ids():
    from conftest import GOLDEN_DIR
    return [f"{m}-{c['case']}" for m, c in baseline_cases(GOLDEN_DIR)] if GOLDEN_DIR.is_dir() else []


def build_baseline(golden_dir, checkpoint, method, case, **extra):
    """``MODELS.build(dict(type=<authors' type>, **segmentor, <weights_key>=<tiny>, device='cpu'))``, with
    ``<vfm_weights_key>=<tiny DINO>`` for methods with a second vision model."""
    kwargs = dict(case["segmentor"], name_path=str(golden_dir / method / case["segmentor"]["name_path"]))
    kwargs[case.get("weights_key") or "model_name"] = str(checkpoint)
    if case.get("vfm_weights_key"):
        kwargs[case["vfm_weights_key"]] = str(golden_dir / "tiny_dino_vit8.pt")
    model = MODELS.build(dict(type=case["type"], device="cpu", **kwargs, **extra))
    return model, torch.load(golden_dir / method / case["file"], weights_only=True)


@pytest.mark.parametrize("index", range(len(baseline_ids())), ids=baseline_ids())
@pytest.mark.parametrize("sequential", [False, pytest.param(True, marks=pytest.mark.slow)],  # slow: the paper's
                         ids=["batched", "sequential"])  # one-window order, also held equal in test_segmentor
def test_baseline_matches_its_authors(golden_dir, tiny_checkpoint, index, sequential):
    """Queries, first-window features, logits before PAMR, probabilities and labels of each case."""
    method, case = baseline_cases(golden_dir)[index]
    model, data = build_baseline(golden_dir, tiny_checkpoint, method, case, sequential=sequential)
    assert model.query_idx.tolist() == data["query_idx"].tolist()
    torch.testing.assert_close(model.query_features, data["query_features"], atol=1e-5, rtol=0)
    ori = tuple(int(v) for v in data["ori_shape"])
    if "dense_features" in data:  # the raw encoder output of the first window (ClearCLIP's has no class token)
        protocol = model.protocol
        window = window_grid(*data["inputs"].shape[-2:], protocol.slide_crop, protocol.slide_stride)[0] \
            if protocol.slide_crop > 0 else None
        crop = data["inputs"] if window is None else data["inputs"][..., window.y1:window.y2, window.x1:window.x2]
        if protocol.window_padding and window is not None:
            (top, bottom), (left, right) = patch_padding(model.visual, *crop.shape[-2:], protocol.padding_multiple)
            crop = torch.nn.functional.pad(crop, (left, right, top, bottom))
        if "vfm_feats" in data:  # the second vision model's patch features of that window
            torch.testing.assert_close(model.encoder.guide_features(crop), data["vfm_feats"], atol=1e-4, rtol=1e-4)
        features = model.extract_feat(crop)
        features = features[:, 1:] if data["dense_features"].shape[1] == features.shape[1] - 1 else features
        torch.testing.assert_close(features, data["dense_features"], atol=1e-4, rtol=1e-4)
    if "logits_before_pamr" in data:
        steps = model.protocol.pamr_steps
        model.configure(pamr_steps=0)
        logits = model.query_logits(data["inputs"][0], ori)
        model.configure(pamr_steps=steps)
        expected = data["logits_before_pamr"]
        if expected.shape[-2:] != logits.shape[-2:]:  # NACLIP's are at input size, before ori_shape
            if model.protocol.slide_crop > 0:
                logits = model._window_logits(data["inputs"][0])
            else:
                logits = model._crop_grids(data["inputs"])
                logits = torch.nn.functional.interpolate(logits, size=expected.shape[-2:], mode="bilinear")[0]
        torch.testing.assert_close(logits[None], expected, atol=1e-4, rtol=0)
    out = model.predict(data["inputs"], [sample_for(data)])[0]
    assert (out.seg_logits.data - data["seg_logits"]).abs().max().item() <= 1e-4
    agree = (out.pred_sem_seg.data.long() == data["pred_sem_seg"].long()).float().mean().item()
    assert agree >= 0.999
