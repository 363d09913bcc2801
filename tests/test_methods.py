"""The other methods' adapters: the authors' keys map onto a recipe and a protocol; ours still apply."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmseg.registry import MODELS
from PIL import Image

import itaclip.models  # noqa: F401  (registers the adapters)
from itaclip import cli, presets
from itaclip.backbone import LastBlock
from itaclip.methods import weights_name
from itaclip.settings import SettingError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    path = tmp_path_factory.mktemp("classes") / "classes.txt"
    path.write_text("background\ncat, kitty\ndog,hound")
    return str(path)


def build(type_, tiny_checkpoint, names, **keys):
    weights = {"model_name": str(tiny_checkpoint)} if type_ == "ClearCLIPSegmentation" else \
        {"clip_path": str(tiny_checkpoint)}
    return MODELS.build(dict(type=type_, name_path=names, device="cpu", **weights, **keys))


@pytest.mark.parametrize("type_,keys,recipe,protocol", [
    ("CLIPForSegmentation", {}, LastBlock("qq+kk", residual=True, ffn=True, fuse_blocks=()),
     dict(pamr_steps=0, logit_scale=40, slide_stride=112, closing=False, renormalise=False)),
    ("CLIPForSegmentation", dict(csa=False, pamr_steps=10), LastBlock("qk", residual=True, ffn=True, fuse_blocks=()),
     dict(pamr_steps=10)),
    ("NACLIP", {}, LastBlock("kk+gaussian", residual=False, ffn=False, fuse_blocks=()),
     dict(pamr_steps=10, renormalise=True, whole_image_via_input=True, whole_image_pamr=True, closing=False)),
    ("NACLIP", dict(arch="vanilla", attn_strategy="csa"), LastBlock("qq+kk", residual=True, ffn=True, fuse_blocks=()),
     {}),
    ("NACLIP", dict(attn_strategy="nonly", gaussian_std=2.5),
     LastBlock("gaussian", residual=False, ffn=False, fuse_blocks=(), gaussian_std=2.5), {}),
    ("ClearCLIPSegmentation", {}, LastBlock("qq", residual=False, ffn=False, fuse_blocks=()),
     dict(logit_scale=50, slide_crop=448, slide_stride=224, window_padding=True, pamr_steps=0, closing=False)),
    ("ClearCLIPSegmentation", dict(model_type="MaskCLIP"), LastBlock("identity", residual=False, fuse_blocks=()), {}),
    ("ClearCLIPSegmentation", dict(model_type="vanilla", ignore_residual=False),
     LastBlock("qk", residual=True, ffn=True, fuse_blocks=()), {}),
])
def test_authors_keys_become_a_recipe_and_a_protocol(tiny_checkpoint, names, type_, keys, recipe, protocol):
    model = build(type_, tiny_checkpoint, names, **keys)
    assert model.last_block == recipe and not model.protocol.img_engineering
    for key, value in protocol.items():
        assert getattr(model.protocol, key) == value, key
    resolved = MODELS.get(type_).resolve(name_path=names, **keys)  # the same settings, no weights read
    assert (resolved.last_block, resolved.protocol) == (model.last_block, model.protocol)
    expected = 5 if type_ == "ClearCLIPSegmentation" else 4  # ClearCLIP splits "dog,hound" on a bare comma
    assert model.num_classes == 3 and len(model.query_idx) == expected


def test_our_keys_apply_to_every_method(tiny_checkpoint, names):
    """model_name wins over the authors' weights key; last_block fields and protocol keys can be changed."""
    model = MODELS.build(dict(type="NACLIP", clip_path="/nowhere/ViT-B-16.pt", model_name=str(tiny_checkpoint),
                              name_path=names, device="cpu", last_block=dict(ffn=True), closing=True,
                              sequential=True, memory_budget_mb=8))
    assert model.last_block == LastBlock("kk+gaussian", residual=False, ffn=True, fuse_blocks=())
    assert model.protocol.closing and model.compute.sequential and model.compute.memory_budget_mb == 8


@pytest.mark.parametrize("type_,keys,message", [
    ("NACLIP", dict(arch="tiny"), "arch='tiny': NACLIP's arch must be 'reduced' or 'vanilla'"),
    ("NACLIP", dict(attn_strategy="csa"), "needs arch='vanilla'"),
    ("NACLIP", dict(attn_strategy="gem"), "must be one of naclip, nonly, kk, csa, vanilla"),
    ("NACLIP", dict(gaussian_std=0.0), "gaussian_std=0.0: gaussian_std must be a finite number above 0"),
    ("ClearCLIPSegmentation", dict(model_type="GEM"), "GEM is not implemented here"),
    ("CLIPForSegmentation", dict(slide_stride=0), "slide_stride=0: slide_stride must be a whole number, 1 or more"),
    ("CLIPForSegmentation", dict(attn_self=False), "CLIPForSegmentation takes no key 'attn_self'"),
])
def test_bad_switches_are_one_line_errors(tiny_checkpoint, names, type_, keys, message):
    with pytest.raises(SettingError, match=message) as caught:
        build(type_, tiny_checkpoint, names, **keys)
    assert "\n" not in str(caught.value)


def test_weights_name():
    assert weights_name(dict(type="CLIPForSegmentation", clip_path="ViT-B/16")) == "ViT-B/16"
    assert weights_name(dict(type="NACLIP", clip_path="ViT-B/16", model_name="/my.pt")) == "/my.pt"
    assert weights_name(dict(type="ClearCLIPSegmentation", clip_type="CLIP", vit_type="ViT-L/14")) == "ViT-L/14"
    assert weights_name(dict(type="ITACLIPSegmentor")) == "ViT-B/16"
    with pytest.raises(SettingError, match="clip_type='OpenCLIP': only OpenAI's 'CLIP' weights are built in"):
        weights_name(dict(type="ClearCLIPSegmentation", clip_type="OpenCLIP", vit_type="ViT-B/16"))


# --- the commands, on other methods' configs --------------------------------------------------------------

@pytest.mark.slow
def test_benchmark_runs_another_methods_config(tiny_checkpoint):
    """scripts/benchmark.py times any method's config, batched against its sequential yardstick."""
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--weights", str(tiny_checkpoint),
           "--config", str(REPO / "configs" / "naclip" / "cfg_context60.py"), "--device", "cpu",
           "--input-size", "120", "250", "--ori-size", "130", "270", "--images", "1", "--sequential-images", "1",
           "--warmup", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["config"] == "naclip/cfg_context60.py" and result["method"] == "NACLIPSegmentor"
    assert result["classes"] == 60 and result["llm_texts"] is False
    assert result["labels_equal"] >= 0.999 and result["max_prob_diff"] <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("method,type_", [("sclip", "CLIPForSegmentation"), ("scclip", "SCCLIPForSegmentation"),
                                          ("resclip", "ResCLIPSegmentation")])
def test_eval_runs_another_methods_config(tiny_checkpoint, tmp_path, method, type_):
    """eval.py --config <method>/cfg_voc21 on a VOC-layout folder: its own work dir and a full run record."""
    from test_eval import write_voc

    write_voc(tmp_path / "VOC2012")
    cmd = [sys.executable, str(REPO / "eval.py"), "--config", f"{method}/cfg_voc21", "--data-root",
           str(tmp_path / "VOC2012"), "--cfg-options", f"model.clip_path={tiny_checkpoint}", "model.device=cpu",
           "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "work_dirs" / method / "cfg_voc21" / "metrics.json").read_text())
    assert 0 <= record["metrics"]["mIoU"] <= 100 and record["data"]["images"] == 3
    assert record["weights"]["path"] == str(tiny_checkpoint.resolve())  # clip_path, the authors' key, recorded
    assert record["llm_texts"]["source"] == "none" and f"'{type_}'" in record["config"]["merged"]


def test_presets_of_every_method(tiny_checkpoint, tmp_path, capsys):
    """Presets name subfolders; the command segments with another method's preset and records it."""
    names = presets.presets()
    assert {"voc21", "sclip/voc21", "naclip/voc21", "clearclip/voc21", "ablations/voc21_no_fusion"} <= set(names)
    assert presets.find_config("naclip/voc21") == REPO / "configs" / "naclip" / "cfg_voc21.py"
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(image)
    status = cli.main(["segment", str(image), "--preset", "clearclip/voc21", "--weights", str(tiny_checkpoint),
                       "--device", "cpu", "--out", str(tmp_path / "out")])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert summary["settings"]["method"] == "ClearCLIPSegmentation" and len(summary["classes"]) == 21
    status = cli.main(["segment", str(image), "--classes", "cat, dog", "--preset", "sclip/voc20",
                       "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(tmp_path / "own")])
    assert status == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "own" / "photo.json").read_text())["settings"]["method"] == "CLIPForSegmentation"
