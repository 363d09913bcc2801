"""Tests for :mod:`itaclip.weights`: local checkpoints, the process cache, one-line errors,
and the download path, served offline by a local HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import random
import socket
import warnings
from pathlib import Path

import pytest
import torch

from itaclip import weights
from itaclip.weights import WeightsError, cache_dir, default_precision, load_clip, resolve

pytestmark = pytest.mark.usefixtures("offline")  # downloads reach only the tests' local server; a fresh cache

# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def tiny_state_dict(tiny_checkpoint):
    """The tiny checkpoint's tensors (fp16, OpenAI key names)."""
    return torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def tiny_bytes(tiny_checkpoint) -> bytes:
    return tiny_checkpoint.read_bytes()


def one_line(excinfo) -> str:
    """The exception's message, checked to be a single line."""
    message = str(excinfo.value)
    assert message and "\n" not in message, message
    return message


def assert_weights_equal(model: torch.nn.Module, state_dict: dict, dtype: torch.dtype | None = None):
    """Every OpenAI tensor landed in the model unchanged (up to a cast)."""
    got = model.state_dict()
    assert set(state_dict) <= set(got)
    for key, value in state_dict.items():
        if dtype is not None:
            assert got[key].dtype == dtype, key
        assert torch.equal(got[key].float(), value.float()), key


def make_torchscript_archive(state_dict: dict, path: Path) -> Path:
    """Save a TorchScript archive whose ``state_dict()`` is exactly ``state_dict``.

    OpenAI's published files are TorchScript modules; open_clip only reads their
    ``state_dict()``. Nested empty modules reproduce the dotted key names.
    """

    class Root(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Root()
    for key, value in state_dict.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, torch.nn.Module())
            module = getattr(module, name)
        module.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(root), str(path))
    return path


# --------------------------------------------------------------------------- local checkpoints


def test_default_precision_is_fp16_on_cuda_fp32_elsewhere():
    """default_precision follows the paper: fp16 on CUDA devices, fp32 on anything else."""
    assert default_precision("cpu") == "fp32"
    assert default_precision(torch.device("cpu")) == "fp32"
    assert default_precision("cuda") == "fp16"
    assert default_precision("cuda:1") == "fp16"


def test_plain_fp16_state_dict_loads_as_fp32_frozen_eval_on_cpu(tiny_checkpoint, tiny_state_dict):
    """The fp16 OpenAI-layout state_dict loads on CPU as fp32 (the default), frozen, in eval mode."""
    model = load_clip(str(tiny_checkpoint), "cpu").model
    params = list(model.parameters())
    assert params and all(p.dtype == torch.float32 for p in params)
    assert not any(p.requires_grad for p in params)
    assert not model.training
    assert_weights_equal(model, tiny_state_dict)


def test_fp16_precision_gives_fp16_weights(tiny_checkpoint, tiny_state_dict):
    """precision='fp16' keeps the conv, attention, linear and projection weights in fp16."""
    model = load_clip(str(tiny_checkpoint), "cpu", precision="fp16").model
    block = model.visual.transformer.resblocks[0]
    for tensor in (model.visual.conv1.weight, model.visual.proj, block.attn.in_proj_weight,
                   block.mlp.c_fc.weight, model.text_projection):
        assert tensor.dtype == torch.float16
    assert_weights_equal(model, tiny_state_dict)


def test_bad_precision_is_a_one_line_error_naming_the_option(tiny_checkpoint):
    """An unknown precision raises WeightsError naming the option, its value and the choices."""
    with pytest.raises(WeightsError) as excinfo:
        load_clip(str(tiny_checkpoint), "cpu", precision="fp8")
    message = one_line(excinfo)
    assert "precision" in message and "'fp8'" in message
    assert all(choice in message for choice in ("fp32", "fp16", "bf16"))


def test_fp32_state_dict_loads(tmp_path, tiny_state_dict):
    """A state_dict saved in fp32 loads too, with the same values."""
    path = tmp_path / "tiny_fp32.pt"
    torch.save({k: v.float() for k, v in tiny_state_dict.items()}, path)
    model = load_clip(str(path), "cpu").model
    assert_weights_equal(model, tiny_state_dict, dtype=torch.float32)


def test_module_prefixed_state_dict_in_a_wrapper_dict_loads(tmp_path, tiny_state_dict):
    """{'state_dict': {'module.<key>': ...}} (a DataParallel-style save) loads via open_clip's fallback."""
    path = tmp_path / "tiny_wrapped.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in tiny_state_dict.items()}}, path)
    model = load_clip(str(path), "cpu").model
    assert_weights_equal(model, tiny_state_dict, dtype=torch.float32)


def test_torchscript_archive_loads(tmp_path, tiny_state_dict):
    """A TorchScript archive whose state_dict has OpenAI's keys loads like the plain state_dict."""
    archive = make_torchscript_archive(tiny_state_dict, tmp_path / "tiny_jit.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(archive), map_location="cpu").state_dict()
    assert list(scripted) == list(tiny_state_dict)  # the archive is faithful: same keys,
    assert all(scripted[k].dtype == v.dtype and torch.equal(scripted[k], v)  # dtypes and values
               for k, v in tiny_state_dict.items())
    model = load_clip(str(archive), "cpu").model
    assert_weights_equal(model, tiny_state_dict, dtype=torch.float32)


def test_same_checkpoint_twice_returns_the_cached_object(tiny_checkpoint, monkeypatch):
    """Loading one file twice (even spelled differently) returns one object; another precision does not."""
    first = load_clip(str(tiny_checkpoint), "cpu")
    assert load_clip(str(tiny_checkpoint), "cpu") is first
    monkeypatch.chdir(tiny_checkpoint.parent)
    assert load_clip(tiny_checkpoint.name, "cpu") is first
    assert load_clip(str(tiny_checkpoint), "cpu", precision="bf16") is not first


def test_what_is_remembered_lives_beside_the_open_clip_model(tiny_checkpoint):
    """Name, file, kind, precision, tokenizer and the text cache are the handle's; open_clip's model gets no
    attribute of ours."""
    import open_clip

    clip = load_clip(str(tiny_checkpoint), "cpu", precision="bf16")
    assert (clip.name, clip.path, clip.kind, clip.precision, clip.tokenizer) == \
        (str(tiny_checkpoint), tiny_checkpoint, "openai:None", "bf16", "ViT-B-16")
    fresh = open_clip.CLIP(**{k: v for k, v in open_clip.get_model_config("ViT-B-16").items()
                              if k in ("embed_dim", "vision_cfg", "text_cfg")})
    assert set(vars(clip.model)) == set(vars(fresh))
    clip.text_cache["x"] = torch.zeros(1)
    clip.forget_texts()
    assert clip.text_cache == {}


def test_missing_file_is_a_one_line_error_naming_it(tmp_path):
    """A path that is neither a file nor an OpenAI name raises WeightsError naming it and the names."""
    missing = tmp_path / "no_such_clip.pt"
    with pytest.raises(WeightsError) as excinfo:
        load_clip(str(missing), "cpu")
    message = one_line(excinfo)
    assert str(missing) in message and "ViT-B/16" in message


def test_corrupt_file_is_a_one_line_error_naming_it(tmp_path):
    """A file of random bytes raises WeightsError naming the path."""
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(WeightsError) as excinfo:
        load_clip(str(corrupt), "cpu")
    assert str(corrupt) in one_line(excinfo)


# --------------------------------------------------------------------------- downloads, offline


@pytest.fixture
def server(local_server):
    return local_server


def serve_as_vit_b_16(monkeypatch, url: str):
    """Make 'ViT-B/16' resolve to ``url`` (open_clip's name and tag are checked on the way)."""

    def fake_get_pretrained_url(name, tag):
        return url if (name, tag) == ("ViT-B-16", "openai") else ""

    monkeypatch.setattr(weights, "get_pretrained_url", fake_get_pretrained_url)


@pytest.fixture
def vit_b_16_url(server, monkeypatch, tiny_bytes) -> str:
    """'ViT-B/16' points at the tiny checkpoint, served under an OpenAI-style URL with its SHA-256."""
    path = f"/{hashlib.sha256(tiny_bytes).hexdigest()}/ViT-B-16.pt"
    server.files[path] = tiny_bytes
    serve_as_vit_b_16(monkeypatch, server.base + path)
    return server.base + path


def test_first_resolve_downloads_into_the_cache(server, vit_b_16_url, tiny_bytes):
    """The first resolve fetches the file into $ITACLIP_CACHE under OpenAI's name, byte for byte."""
    path = resolve("ViT-B/16")
    assert path == cache_dir() / "ViT-B-16.pt"
    assert path.read_bytes() == tiny_bytes
    assert [p.name for p in cache_dir().iterdir()] == ["ViT-B-16.pt"]
    assert len(server.requests) == 1


def test_second_resolve_uses_the_cache(server, vit_b_16_url):
    """A second resolve finds the verified file in the cache and does not contact the server."""
    first = resolve("ViT-B/16")
    assert resolve("ViT-B/16") == first
    assert len(server.requests) == 1


def test_a_bad_cached_file_is_downloaded_again(server, vit_b_16_url, tiny_bytes):
    """A file in the cache whose SHA-256 does not match the URL is replaced by a fresh download."""
    cache_dir().mkdir(parents=True)
    (cache_dir() / "ViT-B-16.pt").write_bytes(tiny_bytes[:1000])
    assert resolve("ViT-B/16").read_bytes() == tiny_bytes
    assert len(server.requests) == 1


def test_a_download_with_the_wrong_sha_is_refused_and_leaves_nothing(server, monkeypatch, tiny_bytes):
    """A served file whose SHA-256 differs from the URL's raises WeightsError and leaves no file behind."""
    path = f"/{hashlib.sha256(tiny_bytes).hexdigest()}/ViT-B-16.pt"
    server.files[path] = tiny_bytes[: len(tiny_bytes) // 2]  # a truncated transfer
    serve_as_vit_b_16(monkeypatch, server.base + path)
    with pytest.raises(WeightsError) as excinfo:
        resolve("ViT-B/16")
    message = one_line(excinfo)
    assert server.base + path in message and "SHA-256" in message
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []


def test_an_unreachable_url_says_what_was_tried_and_how_to_work_offline(monkeypatch):
    """A refused connection raises a one-line WeightsError naming the model, the URL and the offline way."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{'0' * 64}/ViT-B-16.pt"
    serve_as_vit_b_16(monkeypatch, url)
    with pytest.raises(WeightsError) as excinfo:
        resolve("ViT-B/16")
    message = one_line(excinfo)
    assert "ViT-B/16" in message and url in message
    assert "offline" in message and "model_name" in message and str(cache_dir()) in message
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []


@pytest.mark.slow
def test_load_clip_by_openai_name_end_to_end(server, vit_b_16_url, tiny_state_dict):
    """load_clip('ViT-B/16', 'cpu') downloads through the local server and returns a working model."""
    model = load_clip("ViT-B/16", "cpu").model
    assert isinstance(model, torch.nn.Module)
    assert_weights_equal(model, tiny_state_dict, dtype=torch.float32)
    with torch.no_grad():
        assert model.encode_image(torch.zeros(1, 3, 224, 224)).shape == (1, 64)
    assert len(server.requests) == 1


def test_downloaded_file_follows_the_umask(server, vit_b_16_url):
    """The cached file is readable by others under the usual umask, not mkstemp's 0600."""
    import os

    old = os.umask(0o022)
    try:
        mode = resolve("ViT-B/16").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert mode == 0o644


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_a_device_error(tiny_checkpoint):
    """Asking for CUDA where there is none blames the device, not the checkpoint."""
    with pytest.raises(WeightsError) as excinfo:
        load_clip(str(tiny_checkpoint), "cuda")
    message = one_line(excinfo)
    assert "CUDA is not available" in message and "device='cpu'" in message
