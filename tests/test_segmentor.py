"""The mmseg model: registry, constructor keys, predict's contract, batched == sequential."""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from itaclip import ITACLIPSegmentor


@pytest.fixture(scope="module")
def voc_kwargs(golden_dir, tiny_checkpoint):
    return dict(model_name=str(tiny_checkpoint), name_path=str(golden_dir / "voc_like.classes.txt"),
                auxiliary_text_path=str(golden_dir / "voc_like.aux.txt"), dataset_name="voc21", device="cpu",
                def_coefficient=0.05, img_eng_coefficient=0.7, logit_scale=60, prob_thd=0.1, area_thd=0.1)


def sample(ori, img):
    return SegDataSample(metainfo=dict(ori_shape=ori, img_shape=img, pad_shape=img))


def test_registered_under_both_names(voc_kwargs):
    """Configs may say ITACLIPSegmentor or the paper's ITACLIP_Segmentor."""
    assert MODELS.get("ITACLIPSegmentor") is ITACLIPSegmentor
    assert MODELS.get("ITACLIP_Segmentor") is ITACLIPSegmentor
    model = MODELS.build(dict(type="ITACLIP_Segmentor", **voc_kwargs))
    assert model.background and model.num_classes == 5


@pytest.mark.parametrize("dataset,expected", [("voc21", True), ("context60", True), ("coco_object", True),
                                              ("coco_stuff", False), ("cityscapes", False), (None, False)])
def test_background_follows_dataset_name(voc_kwargs, dataset, expected):
    """background=None is inferred from dataset_name as the paper does."""
    kwargs = dict(voc_kwargs, dataset_name=dataset, auxiliary_text_path=None)
    assert ITACLIPSegmentor(**kwargs).background is expected


def test_preprocessor_is_the_papers(voc_kwargs):
    """Mean/std of section 0 and a channel swap."""
    pre = ITACLIPSegmentor(**voc_kwargs).data_preprocessor
    torch.testing.assert_close(pre.mean.flatten(), torch.tensor([122.771, 116.746, 104.094]))
    torch.testing.assert_close(pre.std.flatten(), torch.tensor([68.501, 66.632, 70.323]))
    assert pre.channel_conversion


def test_batch_of_two_equals_one_by_one(voc_kwargs):
    """Each sample of a batch is predicted at its own ori_shape, as if alone."""
    model = ITACLIPSegmentor(**voc_kwargs)
    inputs = torch.randn(2, 3, 230, 250)
    shapes = [(260, 280), (200, 230)]
    batch = model.predict(inputs, [sample(s, (230, 250)) for s in shapes])
    for i, s in enumerate(shapes):
        alone = model.predict(inputs[i:i + 1], [sample(s, (230, 250))])[0]
        assert batch[i].seg_logits.data.shape == (5,) + s
        assert batch[i].pred_sem_seg.data.shape == (1,) + s
        torch.testing.assert_close(batch[i].seg_logits.data, alone.seg_logits.data)


def test_padding_beyond_img_shape_is_ignored(voc_kwargs):
    """A padded batch (pad_shape > img_shape) predicts from the image region only."""
    model = ITACLIPSegmentor(**dict(voc_kwargs, pamr_steps=2))
    image = torch.randn(1, 3, 200, 210)
    padded = torch.full((1, 3, 240, 240), 9.0)
    padded[..., :200, :210] = image
    a = model.predict(image, [sample((200, 210), (200, 210))])[0]
    b = model.predict(padded, [SegDataSample(metainfo=dict(ori_shape=(200, 210), img_shape=(200, 210),
                                                           pad_shape=(240, 240)))])[0]
    torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)


def test_predict_without_data_samples(voc_kwargs):
    """No data samples: outputs live at the input size."""
    out = ITACLIPSegmentor(**dict(voc_kwargs, pamr_steps=0)).predict(torch.randn(1, 3, 100, 120))
    assert out[0].pred_sem_seg.data.shape == (1, 100, 120)


@pytest.mark.parametrize("size", [(150, 190), (224, 224), (250, 333)])
@pytest.mark.parametrize("img_engineering", [True, False])
def test_batched_equals_sequential(voc_kwargs, size, img_engineering):
    """All windows x views in a few passes == one pass per window and view (the paper's order)."""
    kwargs = dict(voc_kwargs, img_engineering=img_engineering, slide_stride=56, pamr_steps=3,
                  memory_budget_mb=8)  # a small budget forces several chunks
    fast, slow = ITACLIPSegmentor(**kwargs), ITACLIPSegmentor(**kwargs, sequential=True)
    image = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    ori = (size[0] + 17, size[1] + 23)
    a = fast.predict(image, [sample(ori, size)])[0]
    b = slow.predict(image, [sample(ori, size)])[0]
    assert (a.seg_logits.data - b.seg_logits.data).abs().max() <= 1e-4
    assert (a.pred_sem_seg.data == b.pred_sem_seg.data).float().mean() >= 0.999


def test_training_is_refused(voc_kwargs):
    """ITACLIP is training-free."""
    with pytest.raises(NotImplementedError, match="training-free"):
        ITACLIPSegmentor(**voc_kwargs).loss(torch.zeros(1, 3, 8, 8), [])


@pytest.mark.slow
def test_readme_example(voc_kwargs, tmp_path, monkeypatch):
    """The README's Python example runs as written, on a real image file."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "MODELS.build" in block)
    code = code.replace('"/path/to/ViT-B-16.pt"', repr(voc_kwargs["model_name"]))
    code = code.replace('"classes.txt"', repr(voc_kwargs["name_path"]))
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photo), rng.integers(0, 255, (180, 240, 3), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["labels"].shape == (180, 240)
    assert namespace["probs"].shape == (5, 180, 240)


def test_classes_given_directly_equal_a_class_file(voc_kwargs, golden_dir):
    """classes=[...] (and set_classes later) embed exactly what name_path would."""
    from_file = ITACLIPSegmentor(**voc_kwargs)
    names = [line.split(", ") for line in (golden_dir / "voc_like.classes.txt").read_text().splitlines()]
    direct = ITACLIPSegmentor(**dict(voc_kwargs, name_path=None, classes=names))
    torch.testing.assert_close(direct.query_features, from_file.query_features)
    assert direct.query_idx.tolist() == from_file.query_idx.tolist()
    direct.set_classes(["cat", ["road", "street"]], background=False)
    assert direct.num_classes == 2 and direct.query_idx.tolist() == [0, 1, 1] and not direct.background
    with pytest.raises(ValueError, match="name_path"):
        ITACLIPSegmentor(**dict(voc_kwargs, classes=names))


@pytest.mark.slow
def test_compiled_forward_gives_the_same_probabilities(voc_kwargs):
    """compile=True (torch.compile of the vision forward) changes speed, not results."""
    kwargs = dict(voc_kwargs, img_engineering=False, pamr_steps=0, slide_stride=112)
    image = torch.randn(1, 3, 100, 130)
    plain = ITACLIPSegmentor(**kwargs).predict(image)[0]
    compiled = ITACLIPSegmentor(**kwargs, compile=True).predict(image)[0]
    torch.testing.assert_close(compiled.seg_logits.data, plain.seg_logits.data, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_low_precision_runs_end_to_end(voc_kwargs, precision):
    """fp16/bf16 weights (the CUDA default is fp16) flow through every stage; outputs stay fp32 and finite."""
    model = ITACLIPSegmentor(**dict(voc_kwargs, precision=precision, slide_stride=112, pamr_steps=2))
    assert model.visual.conv1.weight.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    out = model.predict(torch.randn(1, 3, 120, 150))[0]
    probs = out.seg_logits.data
    assert probs.dtype == torch.float32 and torch.isfinite(probs).all()
    assert out.pred_sem_seg.data.shape == (1, 120, 150)


@pytest.mark.parametrize("pamr_steps", [0, 2])
def test_tiled_predict_equals_one_tile(voc_kwargs, pamr_steps):
    """A tile budget that cuts the output into many tiles gives the one-tile result (area_thd and prob_thd on)."""
    from itaclip import tiles

    kwargs = dict(voc_kwargs, slide_stride=112, pamr_steps=pamr_steps, keep_probs=True)
    whole, tiled = ITACLIPSegmentor(**kwargs), ITACLIPSegmentor(**kwargs, tile_budget_mb=0.25)
    image = torch.randn(1, 3, 150, 200, generator=torch.Generator().manual_seed(3))
    ori = (330, 440)
    assert len(tiles.plan(ori, whole.full_size_settings())) == 1
    assert len(tiles.plan(ori, tiled.full_size_settings())) > 4
    a = whole.predict(image, [sample(ori, (150, 200))])[0]
    b = tiled.predict(image, [sample(ori, (150, 200))])[0]
    assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
    assert a.pred_sem_seg.data.dtype == torch.uint8
    torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data, atol=1e-5, rtol=0)


def test_probabilities_are_kept_while_they_fit(voc_kwargs):
    """keep_probs=None stores seg_logits within the tile budget and leaves it out beyond; False never."""
    image = torch.randn(1, 3, 60, 80, generator=torch.Generator().manual_seed(4))
    budget = 5 * 60 * 80 * 4 / 2**20  # the probabilities of 5 classes at 60 x 80 exactly
    fits = ITACLIPSegmentor(**voc_kwargs, slide_stride=112, tile_budget_mb=budget).predict(image)[0]
    assert fits.seg_logits.data.shape == (5, 60, 80)
    big = ITACLIPSegmentor(**voc_kwargs, slide_stride=112, tile_budget_mb=budget)
    out = big.predict(image, [sample((61, 80), (60, 80))])[0]
    assert "seg_logits" not in out and out.pred_sem_seg.data.shape == (1, 61, 80)
    never = ITACLIPSegmentor(**voc_kwargs, slide_stride=112, keep_probs=False).predict(image)[0]
    assert "seg_logits" not in never and torch.equal(never.pred_sem_seg.data, fits.pred_sem_seg.data)
