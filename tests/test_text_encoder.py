"""Class texts embedded fast and once: exact context trimming, the disk cache (offline, CPU)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch

from itaclip import text, text_encoder
from itaclip.weights import load_clip

REPO = Path(__file__).resolve().parents[1]


def prompts_of_every_length(tokenizer) -> list[str]:
    """Prompts from 1 to 75 words: with start and end tokens, 3 to 77 tokens (the full context)."""
    words = ["cat"] * 75
    out = [" ".join(words[:n]) for n in (1, 2, 5, 10, 20, 40, 60, 74, 75)]
    assert tokenizer([out[-1]]).argmax(-1).item() == 76  # the last one fills the context
    return out


@pytest.fixture(scope="module")
def random_vit_b_16(tmp_path_factory) -> str:
    """A random open_clip ViT-B-16 (the real text tower's shape), named ARCH:PATH."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None)
    path = tmp_path_factory.mktemp("vit_b_16") / "random.pt"
    torch.save(model.state_dict(), path)
    return f"ViT-B-16:{path}"


@pytest.mark.parametrize("which", ["tiny", pytest.param("vit_b_16", marks=pytest.mark.slow)])
def test_trimmed_equals_the_full_context(which, tiny_checkpoint, request):
    # the random ViT-B-16 (a few seconds to build) only for its own case, so the quick run keeps the tiny one
    model = load_clip(str(tiny_checkpoint) if which == "tiny" else request.getfixturevalue("random_vit_b_16")).model
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    tokens = tokenizer(prompts_of_every_length(tokenizer))
    unit = torch.nn.functional.normalize  # embeddings are used normalised (section 3)
    with torch.no_grad():
        full = unit(model.encode_text(tokens), dim=-1)
        for row in range(len(tokens)):  # each alone: the context is trimmed to that prompt
            torch.testing.assert_close(unit(text_encoder.encode_prompts(model, tokens[row:row + 1]), dim=-1),
                                       full[row:row + 1], atol=1e-6, rtol=0)
        torch.testing.assert_close(unit(text_encoder.encode_prompts(model, tokens), dim=-1), full, atol=1e-6, rtol=0)


def test_batches_are_sorted_by_length():
    assert text_encoder.sorted_batches([5, 2, 9, 2, 7], 2) == [[1, 3], [0, 4], [2]]


BUILD = """
import json, sys, warnings
warnings.simplefilter("error")  # no cache warning may appear in a clean build
from itaclip.weights import load_clip
from itaclip import text
model = load_clip(sys.argv[1])
emb = text.embed_texts(model, sys.argv[2:])
print(json.dumps(dict(sum=emb.double().sum().item(), rows=emb.tolist())))
"""


def build_in_new_process(weights: str, texts: list[str], env: dict) -> tuple[list, str]:
    import json
    proc = subprocess.run([sys.executable, "-c", BUILD, weights, *texts], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["rows"], proc.stdout + proc.stderr


TEXTS = [f"class number {i}" for i in range(12)]


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.pt"))


@pytest.mark.slow
def test_a_second_process_reads_every_embedding_from_the_cache(tiny_checkpoint, tmp_path):
    env = {"ITACLIP_TEXT_CACHE": str(tmp_path / "cache")}
    first, log = build_in_new_process(str(tiny_checkpoint), TEXTS, env)
    assert "0 of 12 texts from the cache" in log and len(cache_files(tmp_path / "cache")) == 12
    second, log = build_in_new_process(str(tiny_checkpoint), TEXTS, env)
    assert "12 of 12 texts from the cache" in log
    assert second == first  # bit-identical, through JSON's exact float repr


def test_weights_templates_and_precision_key_the_cache(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("ITACLIP_TEXT_CACHE", str(tmp_path / "cache"))
    model = load_clip(str(tiny_checkpoint))
    model.forget_texts()
    text.embed_texts(model, ["lighthouse"])
    base = text_encoder.DiskCache.for_model(model, text.TEMPLATES)
    assert base.get("lighthouse") is not None
    assert text_encoder.DiskCache.for_model(model, text.TEMPLATES[:-1]).get("lighthouse") is None
    other_weights = tmp_path / "copy.pt"
    other_weights.write_bytes(tiny_checkpoint.read_bytes() + b"\0")  # another file, another digest
    assert text_encoder.DiskCache(base.folder.parent, dict(base.identity, weights="0" * 64)).get("lighthouse") is None
    bf16 = load_clip(str(tiny_checkpoint), precision="bf16")
    assert text_encoder.DiskCache.for_model(bf16, text.TEMPLATES).key != base.key


def test_a_truncated_entry_is_ignored_and_rewritten(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("ITACLIP_TEXT_CACHE", str(tmp_path / "cache"))
    model = load_clip(str(tiny_checkpoint))
    model.forget_texts()
    expected = text.embed_texts(model, ["zebra crossing"])
    (entry,) = cache_files(tmp_path / "cache")
    entry.write_bytes(entry.read_bytes()[:40])
    model.forget_texts()
    with pytest.warns(UserWarning, match="is unreadable"):
        again = text.embed_texts(model, ["zebra crossing"])
    assert torch.equal(again, expected)
    model.forget_texts()
    cache = text_encoder.DiskCache.for_model(model, text.TEMPLATES)
    assert torch.equal(cache.get("zebra crossing"), expected[0])  # rewritten whole


@pytest.mark.slow
def test_two_processes_filling_one_cache_at_once(tiny_checkpoint, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "ITACLIP_TEXT_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(tiny_checkpoint), *TEXTS], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-2000:] for _, err in outputs]
    rows = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert rows[0] == rows[1] and len(cache_files(tmp_path / "cache")) == len(TEXTS)
    assert not list((tmp_path / "cache").rglob(".*.part"))


def test_the_cache_can_be_switched_off(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "root"))
    monkeypatch.setenv("ITACLIP_TEXT_CACHE", "0")
    model = load_clip(str(tiny_checkpoint))
    model.forget_texts()
    text.embed_texts(model, ["harbour"])
    assert not (tmp_path / "root" / "text_embeddings").exists()
