"""ProxyCLIP: DINO as a second vision model (its loader, positional rule and download), the proxy-attention
kernel, non-square windows, the mask guard and the authors' keys. Its golden cases run in test_golden.py."""
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from PIL import Image
from test_eval import write_voc

import itaclip.models  # noqa: F401  (registers the methods)
from itaclip import cli, dino, kernels, vfm
from itaclip.backbone import LastBlock
from itaclip.fetch import cache_dir
from itaclip.kernels import KernelContext, ProxyMaskError
from itaclip.settings import SettingError

pytestmark = pytest.mark.usefixtures("offline")  # downloads reach only the tests' local server
PROXY = LastBlock(attention="proxy", residual=False, ffn=False, fuse_blocks=())


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- DINO: the network, its positional rule, the files it is read from ----------------------------------------

def test_positional_resampling_through_the_loader(golden_dir, tiny_dino, tmp_path):
    """dino_pos_check.pt: the tiny DINO with a random positional table on 336x336 inputs (28x28 -> 42x42)."""
    check = torch.load(golden_dir / "proxyclip" / "dino_pos_check.pt", weights_only=True)
    state = dict(torch.load(tiny_dino, weights_only=True), pos_embed=check["pos_embed"])
    torch.save(state, tmp_path / "dino_pos.pth")
    with torch.no_grad():
        features = vfm.load_vfm(str(tmp_path / "dino_pos.pth")).model(check["inputs"])
    assert features.shape == check["features"].shape
    assert (features - check["features"]).abs().max().item() <= 1e-4


def test_dino_keeps_its_table_only_for_square_inputs_of_its_size():
    """DINO resamples when the token count differs or the input is not square (CLIP: the count alone)."""
    table = torch.randn(1 + 16, 8)
    assert dino.positions(table, 4, 4, square=True) is table
    for grid, square in (((4, 4), False), ((5, 4), False), ((5, 5), True)):
        resampled = dino.positions(table, *grid, square=square)
        assert resampled.shape == (1 + grid[0] * grid[1], 8) and torch.equal(resampled[0], table[0])
        expected = F.interpolate(table[1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2), mode="bicubic",
                                 scale_factor=((grid[0] + 0.1) / 4, (grid[1] + 0.1) / 4))
        torch.testing.assert_close(resampled[1:], expected.permute(0, 2, 3, 1).reshape(-1, 8))
    assert not torch.equal(dino.positions(table, 4, 4, square=False), table)


def test_architecture_is_read_from_the_shapes(tiny_dino):
    arch = dino.architecture(torch.load(tiny_dino, weights_only=True))
    assert arch == dict(patch=8, width=128, depth=4, heads=2, mlp_ratio=4.0, table_side=28)


def test_a_training_checkpoint_and_safetensors_give_the_same_network(tiny_dino, tmp_path):
    """DINO's training checkpoint (its teacher, with prefixes and a head) and a safetensors copy load alike."""
    from safetensors.torch import save_file

    state = torch.load(tiny_dino, weights_only=True)
    teacher = {f"module.backbone.{key}": value for key, value in state.items()}
    teacher["module.head.mlp.0.weight"] = torch.zeros(3, 128)
    torch.save(dict(teacher=teacher, student={}, epoch=3), tmp_path / "checkpoint.pth")
    save_file(state, str(tmp_path / "model.safetensors"))
    images = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        expected = vfm.load_vfm(str(tiny_dino)).model(images)
        for name in ("checkpoint.pth", "model.safetensors"):
            assert torch.equal(vfm.load_vfm(str(tmp_path / name)).model(images), expected), name


def test_a_file_that_is_not_dino_is_one_line(tiny_checkpoint):
    with pytest.raises(vfm.VFMError) as excinfo:
        vfm.load_vfm(str(tiny_checkpoint))
    message = one_line(excinfo)
    assert str(tiny_checkpoint) in message and "DINO" in message


def test_an_unknown_name_lists_the_spellings():
    with pytest.raises(vfm.VFMError) as excinfo:
        vfm.load_vfm("dino_vitl8")
    message = one_line(excinfo)
    assert "'dino_vitl8'" in message and all(name in message for name in vfm.DINO_RELEASES)


# --- the download of a DINO release, from a local server ------------------------------------------------------

def serve_dino(monkeypatch, server, body: bytes, cut: bool = False) -> str:
    monkeypatch.setattr(vfm, "DINO_URL", server.base + "/dino")
    path = "/dino/" + vfm.DINO_RELEASES["dino_vitb8"]
    server.files[path] = body
    if cut:
        server.cut.add(path)
    return server.base + path


def test_a_release_is_downloaded_once_into_the_cache(local_server, monkeypatch, tiny_dino):
    body = tiny_dino.read_bytes()
    serve_dino(monkeypatch, local_server, body)
    first = vfm.resolve("dino_vitb8")
    assert first.parent == cache_dir("dino") and first.read_bytes() == body
    assert vfm.resolve("dino_vitb8") == first and len(local_server.requests) == 1
    model = vfm.load_vfm("dino_vitb8").model
    assert model.arch["patch"] == 8 and len(local_server.requests) == 1


def test_a_broken_download_leaves_nothing(local_server, monkeypatch, tiny_dino):
    url = serve_dino(monkeypatch, local_server, tiny_dino.read_bytes(), cut=True)
    with pytest.raises(vfm.VFMError) as excinfo:
        vfm.resolve("dino_vitb8")
    message = one_line(excinfo)
    assert url in message and "offline" in message
    assert not cache_dir("dino").exists() or list(cache_dir("dino").iterdir()) == []


def test_an_unreachable_server_says_how_to_work_offline(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(vfm, "DINO_URL", f"http://127.0.0.1:{port}/dino")
    with pytest.raises(vfm.VFMError) as excinfo:
        vfm.resolve("dino_vitb8")
    message = one_line(excinfo)
    assert "dino_vitb8" in message and "offline" in message and str(cache_dir("dino")) in message


# --- the proxy-attention kernel -------------------------------------------------------------------------------

def test_fused_equals_literal_and_the_mask_is_exact():
    torch.manual_seed(0)
    guide = torch.randn(2, 16, 5, 6)
    v = torch.randn(2, 2, 1 + 3 * 4, 8)
    context = KernelContext((3, 4), PROXY, None, guide)
    kernel = kernels.get_kernel("proxy")
    values = kernel.values(v, context)
    assert values.shape == (2, 2, 30, 8)
    literal = kernel.attention_map(None, None, context)  # q and k are not used
    torch.testing.assert_close(kernel.attend(None, None, values, context), literal @ values, atol=1e-5, rtol=1e-5)
    f = F.normalize(guide.flatten(2), dim=1)
    similarity = f.transpose(1, 2) @ f
    kept = similarity >= PROXY.proxy_beta * similarity.mean(dim=(-2, -1), keepdim=True)
    assert torch.equal(literal[:, 0] > 0, kept)  # kept pairs only, one map for every head
    torch.testing.assert_close(literal.sum(-1), torch.ones(2, 1, 30))
    # the values: each head's patch rows, bilinearly resized from CLIP's 3x4 grid to the guide's 5x6
    head = v[1, 1, 1:].T.reshape(1, 8, 3, 4)
    resized = F.interpolate(head, size=(5, 6), mode="bilinear", align_corners=False).reshape(8, 30).T
    torch.testing.assert_close(values[1, 1], resized)


def test_the_kernel_replaces_the_whole_last_block():
    with pytest.raises(SettingError) as excinfo:
        LastBlock(attention="proxy")
    assert "residual=False" in one_line(excinfo)


def test_a_row_masked_whole_is_an_error_not_nan():
    """A uniform window (every similarity ~1) with beta > 1 masks every entry of every row."""
    context = KernelContext((2, 2), PROXY, None, torch.ones(1, 4, 3, 3))
    with pytest.raises(ProxyMaskError) as excinfo:
        kernels.get_kernel("proxy").attention_map(None, None, context)
    assert one_line(excinfo).startswith("beta=1.2: ")


# --- the method, built on the tiny CLIP and the tiny DINO ------------------------------------------------------

def build(golden_dir, tiny_checkpoint, tiny_dino, **keys):
    keys = dict(dict(clip_type=str(tiny_checkpoint), model_type="ViT-B/16", vfm_model="dino",
                     checkpoint=str(tiny_dino), name_path=str(golden_dir / "proxyclip" / "voc21_like.classes.txt"),
                     device="cpu"), **keys)
    return MODELS.build(dict(type="ProxyCLIPSegmentation", **keys))


def rectangles(height: int, width: int) -> torch.Tensor:
    """A normalised image of flat rectangles (noise-free, so no similarity sits on the mask threshold)."""
    image = torch.zeros(3, height, width)
    colours = torch.tensor([[1.5, -0.5, 0.2], [-1.0, 1.0, 0.5], [0.3, 0.3, -1.2], [-0.2, -1.5, 1.0]])
    for i, (y, x) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        image[:, y * height // 2:(y + 1) * height // 2, x * width // 3:(x + 2) * width // 3] = colours[i, :, None, None]
    return image


def test_a_non_square_window_uses_the_true_grid(golden_dir, tiny_checkpoint, tiny_dino):
    """A 200x400 input: windows of 200x336, padded to 224x336, so DINO's grid is 28x42 (the authors' code
    would take 28x28 from the height); batched and window by window agree."""
    model = build(golden_dir, tiny_checkpoint, tiny_dino)
    assert model.encoder.output_grid(model.visual, 224, 336) == (28, 42)
    image = rectangles(200, 400)
    crop = F.pad(image[None, :, :, :336], (0, 0, 12, 12))
    assert model.encoder.guide_features(crop).shape == (1, 128, 28, 42)
    assert model.extract_feat(crop).shape == (1, 28 * 42, 64)
    batched = model.query_logits(image, (200, 400))
    model.configure(sequential=True)
    sequential = model.query_logits(image, (200, 400))
    assert torch.isfinite(batched).all()
    torch.testing.assert_close(batched, sequential, atol=1e-4, rtol=0)


def test_a_flat_image_is_one_line_naming_beta(golden_dir, tiny_checkpoint, tiny_dino):
    model = build(golden_dir, tiny_checkpoint, tiny_dino)
    with pytest.raises(ProxyMaskError) as excinfo:
        model.predict(torch.zeros(1, 3, 224, 224))
    assert "beta=1.2" in one_line(excinfo)


def test_the_run_record_names_the_dino_file_and_its_digest(golden_dir, tiny_checkpoint, tiny_dino):
    record = build(golden_dir, tiny_checkpoint, tiny_dino).settings()["vfm"]
    assert record == dict(vfm_name=str(tiny_dino), path=str(tiny_dino.resolve()),
                          sha256=hashlib.sha256(tiny_dino.read_bytes()).hexdigest())


def test_a_pass_counts_both_models(golden_dir, tiny_checkpoint, tiny_dino):
    model = build(golden_dir, tiny_checkpoint, tiny_dino)
    clip_only = super(type(model.encoder), model.encoder).pass_bytes(model.visual, 336, 336)
    assert model.encoder.pass_bytes(model.visual, 336, 336) > clip_only + 4 * 4 * 42**4


# --- the authors' keys -----------------------------------------------------------------------------------------

def resolve(**keys):
    base = dict(clip_type="openai", model_type="ViT-B/16", vfm_model="dino", name_path="x.txt")
    return MODELS.get("ProxyCLIPSegmentation").resolve(**{**base, **keys})


def test_the_authors_keys_and_defaults():
    recipe = resolve()
    assert (recipe.model_name, recipe.vfm_name) == ("ViT-B/16", "dino_vitb8")
    block = recipe.last_block
    assert (block.attention, block.residual, block.ffn, block.fuse_blocks) == ("proxy", False, False, ())
    assert (block.proxy_beta, block.proxy_gamma) == (1.2, 3.0)
    p = recipe.protocol
    assert (p.slide_crop, p.slide_stride, p.window_padding, p.padding_multiple) == (336, 112, True, 56)
    assert (p.name_separator, p.pamr_steps, p.logit_scale, p.prob_thd, p.area_thd, p.closing) == \
        ("; ", 0, 40, 0.0, None, False)
    assert not p.img_engineering and not p.renormalise


@pytest.mark.parametrize("keys, weights", [
    (dict(model_type="ViT-L/14"), "ViT-L/14"),
    (dict(model_type="ViT-L-14"), "ViT-L-14:openai"),
    (dict(clip_type="laion2b_s32b_b79k", model_type="ViT-H-14"), "ViT-H-14:laion2b_s32b_b79k"),
    (dict(model_name="ViT-B-16:laion2b_s34b_b88k"), "ViT-B-16:laion2b_s34b_b88k"),
])
def test_the_clip_keys_pick_open_clip_weights(keys, weights):
    assert resolve(**keys).model_name == weights


def test_checkpoint_and_vfm_name_pick_the_second_model():
    assert resolve(checkpoint="dino_vits8").vfm_name == "dino_vits8"
    assert resolve(checkpoint="dino_vits8", vfm_name="/tmp/mine.pth").vfm_name == "/tmp/mine.pth"


@pytest.mark.parametrize("keys, start", [
    (dict(vfm_model="sam"), "vfm_model='sam': ProxyCLIP's vfm_model is not built here"),
    (dict(vfm_model="clip"), "vfm_model='clip': ProxyCLIP's vfm_model is not one of ProxyCLIP's"),
    (dict(vfm_model=None), "vfm_model=None"),
    (dict(clip_type=None), "clip_type: ProxyCLIP needs clip_type and model_type"),
    (dict(beta=0), "beta=0: ProxyCLIP's beta must be"),
    (dict(gamma=float("nan")), "gamma=nan: ProxyCLIP's gamma must be"),
    (dict(slide_stride=0), "slide_stride=0: slide_stride must be"),
])
def test_bad_keys_are_one_line(keys, start):
    with pytest.raises(SettingError) as excinfo:
        resolve(**keys)
    assert one_line(excinfo).startswith(start)


def test_a_clip_only_method_refuses_a_second_model(tiny_checkpoint, golden_dir):
    with pytest.raises(SettingError) as excinfo:
        MODELS.build(dict(type="NACLIP", model_name=str(tiny_checkpoint), vfm_name="dino_vitb8", device="cpu",
                          name_path=str(golden_dir / "proxyclip" / "voc21_like.classes.txt")))
    assert one_line(excinfo).startswith("vfm_name: NACLIP has no second vision model")


# --- end to end: eval.py on a VOC-layout folder, the command on a photo ----------------------------------------

@pytest.mark.slow
def test_eval_runs_the_voc21_config(tmp_path, tiny_checkpoint, tiny_dino):
    """configs/proxyclip/cfg_voc21.py through eval.py, with the authors' weights keys pointing at the tiny
    models; the run record names both files."""
    repo = Path(__file__).resolve().parents[1]
    rng = np.random.default_rng(0)
    for name in write_voc(tmp_path / "VOC2012"):  # noise all over: the tiny DINO finds flat halves too alike
        path = tmp_path / "VOC2012" / "JPEGImages" / f"{name}.jpg"
        cv2.imwrite(str(path), rng.integers(0, 255, cv2.imread(str(path)).shape, dtype=np.uint8))
    cmd = [sys.executable, str(repo / "eval.py"), "--config", "proxyclip/cfg_voc21", "--data-root",
           str(tmp_path / "VOC2012"), "--work-dir", str(tmp_path / "work"), "--cfg-options",
           f"model.clip_type={tiny_checkpoint}", f"model.checkpoint={tiny_dino}", "model.device=cpu",
           "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "work" / "metrics.json").read_text())
    assert 0 <= result["metrics"]["mIoU"] <= 100
    assert result["vfm"]["sha256"] == hashlib.sha256(tiny_dino.read_bytes()).hexdigest()
    assert result["weights"]["sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_command_segments_a_photo_with_the_preset(tmp_path, tiny_checkpoint, tiny_dino, capsys):
    rgb = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    args = ["segment", str(tmp_path / "photo.jpg"), "--preset", "proxyclip/voc21", "--weights", str(tiny_checkpoint),
            "--device", "cpu", "--out", str(tmp_path / "out")]
    assert cli.main([*args, "--vfm-weights", "dino_vitl8"]) == 2  # checked before anything loads
    assert capsys.readouterr().err.strip().startswith("itaclip segment: error: --vfm-weights dino_vitl8: ")
    assert cli.main([*args, "--vfm-weights", str(tiny_dino)]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert len(summary["classes"]) == 21 and summary["settings"]["method"] == "ProxyCLIPSegmentation"
    assert summary["settings"]["vfm"]["sha256"] == hashlib.sha256(tiny_dino.read_bytes()).hexdigest()
    assert Image.open(tmp_path / "out" / "photo_mask.png").size == (80, 60)
