"""Any open_clip ViT: spellings, the model's own conventions, refusals (offline, small random models).

Small architectures are registered with open_clip's own config mechanism and
built by its factory; their state dicts, saved in open_clip's format, stand
in for downloaded weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from itaclip import backbone, weights
from itaclip.methods import ITACLIPSegmentor
from itaclip.segmentor import DATA_PREPROCESSOR, preprocessor_for
from itaclip.text import _tokenizer
from itaclip.weights import WeightsError, load_clip

TEXT = {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
ARCHS = {  # name -> vision config (and extras): patch 14 with LayerScale, patch 32 with QuickGELU, 24 blocks
    "itaclip-test-p14-ls": dict(vision_cfg=dict(image_size=56, layers=3, width=64, patch_size=14, ls_init_value=0.5)),
    "itaclip-test-p32-qg": dict(vision_cfg=dict(image_size=64, layers=2, width=64, patch_size=32), quick_gelu=True),
    "itaclip-test-24": dict(vision_cfg=dict(image_size=32, layers=24, width=64, patch_size=16)),
}
SIZES = {"itaclip-test-p14-ls": (70, 98), "itaclip-test-p32-qg": (96, 64), "itaclip-test-24": (48, 64)}


@pytest.fixture(scope="module")
def archs(tmp_path_factory) -> Path:
    """Register the small architectures with open_clip; returns a folder of their saved weights."""
    folder = tmp_path_factory.mktemp("open_clip")
    for name, extra in ARCHS.items():
        config = dict(embed_dim=32, text_cfg=TEXT, **extra)
        (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    for name in ARCHS:
        model = open_clip.create_model(name, pretrained=None)
        torch.save(model.state_dict(), folder / f"{name}.pt")
    return folder


def reference_model(archs: Path, name: str) -> torch.nn.Module:
    model = open_clip.create_model(name, pretrained=str(archs / f"{name}.pt")).eval()
    return model


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_plain_recipe_is_open_clips_forward(archs, name):
    """With every ITACLIP change off, the class token of the dense forward is open_clip's encode_image."""
    model = load_clip(f"{name}:{archs / f'{name}.pt'}")
    plain = backbone.LastBlock(attention="qk", residual=True, ffn=True, fuse_blocks=())
    side = ARCHS[name]["vision_cfg"]["image_size"]
    images = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(backbone.dense_features(model.visual, images, plain)[:, 0],
                                   reference_model(archs, name).encode_image(images), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_itaclip_changes_fused_equal_maps(archs, name):
    """On, with layers that exist in the model (24 blocks: the same relative depths), fused == literal."""
    model = load_clip(f"{name}:{archs / f'{name}.pt'}")
    blocks = len(model.visual.transformer.resblocks)
    recipe = backbone.LastBlock(fuse_blocks=(14, 16, 20) if blocks == 24 else tuple(range(1, blocks)))
    images = torch.randn(1, 3, *SIZES[name])
    with torch.no_grad():
        fused = backbone.dense_features(model.visual, images, recipe, fused=True)
        literal = backbone.dense_features(model.visual, images, recipe, fused=False)
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-4)


def test_weights_by_path_load_exactly(archs):
    """ARCH:PATH gives the saved model, with the architecture's activation (QuickGELU here)."""
    name = "itaclip-test-p32-qg"
    model = load_clip(f"{name}:{archs / f'{name}.pt'}").model
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    reference = reference_model(archs, name)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert weights.resolve(f"{name}:{archs / f'{name}.pt'}") == archs / f"{name}.pt"


def test_tokenizer_and_preprocessing_follow_the_model(archs, tmp_path):
    """Texts are tokenised to the model's context (32 here); weights with their own mean/std (a tag's
    preprocessing) are normalised with it; OpenAI's statistics keep the paper's values."""
    name = "itaclip-test-p14-ls"
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    model = ITACLIPSegmentor(model_name=f"{name}:{archs / f'{name}.pt'}", name_path=str(tmp_path / "classes.txt"),
                             device="cpu", slide_crop=56, slide_stride=28, pamr_steps=1)
    assert model.clip.tokenizer == name
    assert _tokenizer(name)(["a photo of a cat"]).shape == (1, 32)
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx(DATA_PREPROCESSOR["mean"])
    out = model.predict(torch.randn(1, 3, 60, 84))[0]
    assert out.seg_logits.data.shape == (2, 60, 84)
    other = reference_model(archs, name)
    open_clip.set_model_preprocess_cfg(other, dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    assert preprocessor_for(other) == dict(mean=[127.5] * 3, std=[63.75] * 3, rgb_to_bgr=True)


@pytest.mark.parametrize("model_name,needle", [
    ("RN50:openai", "RN50 cannot be used: its vision tower is a ResNet, not a ViT"),
    ("RN50:yfcc15m", "its vision tower is a ResNet"),
    ("ViT-B-16-SigLIP:webli", "its vision tower is timm's vit_base_patch16_siglip_224"),
    ("coca_ViT-B-32:laion2b_s13b_b90k", "pools by attention (CoCa), without a class token"),
    ("ViT-Nope-99:laion", "open_clip knows no architecture 'ViT-Nope-99'"),
    ("ViT-B-16:no_such_tag", "open_clip has no weights tagged 'no_such_tag' for ViT-B-16"),
    ("ViT-B-16:/nowhere/open_clip_model.safetensors", "no such file /nowhere/open_clip_model.safetensors"),
    ("vit-b-16", "neither a file nor a known spelling"),
])
def test_refusals_are_one_line_before_any_download(model_name, needle, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(open_clip, "download_pretrained", no_network)
    with pytest.raises(WeightsError) as err:
        load_clip(model_name)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_an_unreachable_tag_names_the_file_and_the_way_offline(monkeypatch):
    """ARCH:TAG offline: one line naming the file to fetch and the ARCH:PATH spelling to use instead."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def offline(config, cache_dir=None):
        raise OSError("offline")

    monkeypatch.setattr(open_clip, "download_pretrained", offline)
    with pytest.raises(WeightsError) as err:
        weights.resolve("ViT-B-16:laion2b_s34b_b88k")
    message = str(err.value)
    assert "\n" not in message and "(offline)" in message
    assert "https://huggingface.co/laion/CLIP-ViT-B-16-laion2B-s34B-b88K/open_clip_pytorch_model.bin" in message
    assert "ViT-B-16:/path/to/open_clip_pytorch_model.bin" in message


def test_openai_spellings_still_work(tiny_checkpoint):
    assert weights.parse(str(tiny_checkpoint)).kind == "openai"
    assert weights.parse("ViT-B/16") == weights.Spelling("openai", "ViT-B-16", "ViT-B/16")
    assert weights.parse("ViT-B-16:openai") == weights.Spelling("openai", "ViT-B-16", "ViT-B/16")
    assert weights.parse("ViT-L-14:laion2b_s32b_b82k") == weights.Spelling("tag", "ViT-L-14", "laion2b_s32b_b82k")
    assert weights.parse("hf-hub:timm/x").kind == "hub"


@pytest.mark.slow
def test_command_and_eval_take_the_new_spellings(archs, tmp_path, capsys):
    """itaclip segment --weights ARCH:PATH, and eval.py --cfg-options model.model_name=ARCH:PATH."""
    import os
    import subprocess
    import sys

    from itaclip import cli

    name = "itaclip-test-p14-ls"
    spelled = f"{name}:{archs / f'{name}.pt'}"
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(image)
    # the command runs in this process, where the test architectures are registered
    assert cli.main(["segment", str(image), "--classes", "cat, dog", "--weights", spelled, "--device", "cpu",
                     "--out", str(tmp_path / "out"), "--set", "slide_stride=112"]) == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "out" / "photo.json").read_text())["settings"]["weights"]
    assert record["model_name"] == spelled and record["path"] == str(archs / f"{name}.pt")

    from test_eval import write_voc
    repo = Path(__file__).resolve().parents[1]
    write_voc(tmp_path / "VOC2012")
    code = (f"import open_clip, runpy, sys; open_clip.add_model_config({str(archs)!r}); "
            f"sys.argv = ['eval.py'] + sys.argv[1:]; runpy.run_path({str(repo / 'eval.py')!r}, run_name='__main__')")
    proc = subprocess.run(
        [sys.executable, "-c", code, "--config", "cfg_voc21", "--texts", "none", "--data-root",
         str(tmp_path / "VOC2012"), "--work-dir", str(tmp_path / "work"),
         "--cfg-options", f"model.model_name={spelled}",
         "model.device=cpu", "model.slide_stride=112", "model.pamr_steps=1", "test_dataloader.num_workers=0",
         "test_dataloader.persistent_workers=False"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(repo)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "work" / "metrics.json").read_text())
    assert metrics["weights"]["model_name"] == spelled and 0 <= metrics["metrics"]["mIoU"] <= 100
