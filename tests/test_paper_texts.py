"""The paper's LLM texts: fetched once from a pinned source, cached, refused when wrong, switchable (offline).

A local HTTP server on 127.0.0.1 stands in for the authors' repository
(``ITACLIP_PAPER_TEXTS_URL``), and a test-only pin table holds the digests of
the files it serves: the real files are not on this machine.
"""
from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from mmengine.config import Config

from itaclip import llm_texts, provenance
from itaclip.class_files import TextFileError, load_texts

REPO = Path(__file__).resolve().parents[1]
NAME = "voc21_definitions.txt"


def fake_paper_file(class_file: str, background: bool, tag: str = "paper") -> bytes:
    """A text file in the paper's format for a class file, with recognisable texts."""
    lines = (REPO / "configs" / class_file).read_text(encoding="utf-8").splitlines()[int(background):]
    return "".join(f"{line.split(', ')[0]} >={tag} text about {line.split(', ')[0]}\n" for line in lines).encode()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "paper_texts"


@pytest.fixture
def mirror(cache, monkeypatch, local_server):
    """A mirror of the paper's texts on 127.0.0.1 (``mirror.url``) and a pin table for what it serves."""
    server = local_server
    server.url = f"{server.base}/texts"
    contents = {NAME: fake_paper_file("cls_voc21.txt", True),
                "cityscapes_synonyms.txt": fake_paper_file("cls_cityscapes.txt", False)}
    for name, data in contents.items():
        server.files[f"/texts/{name}"] = data
    monkeypatch.setattr(llm_texts, "PAPER_SHA256", {n: hashlib.sha256(d).hexdigest() for n, d in contents.items()})
    monkeypatch.setenv(llm_texts.URL_VARIABLE, server.url)
    return server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/texts"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- fetching and the cache ------------------------------------------------------------------------------

def test_first_use_downloads_then_the_cache_serves_offline(mirror, cache):
    path = llm_texts.resolve(f"paper:{NAME}")
    assert path == cache / NAME and path.read_bytes() == mirror.files[f"/texts/{NAME}"]
    assert mirror.requests == [f"/texts/{NAME}"]
    mirror.stop()
    assert llm_texts.resolve(f"paper:{NAME}") == path  # the server is gone: read from the cache
    classes, texts = load_texts(REPO / "configs" / "cls_voc21.txt", path, background=True)
    assert len(texts) == 20 and texts[0] == "paper text about aeroplane"


def test_a_wrong_digest_is_refused_and_leaves_nothing(mirror, cache):
    mirror.files[f"/texts/{NAME}"] = b"aeroplane >=something else\n"
    with pytest.raises(llm_texts.PaperTextsUnavailable) as err:
        llm_texts.resolve(f"paper:{NAME}")
    message = str(err.value)
    assert "\n" not in message and "SHA-256" in message and llm_texts.PAPER_SHA256[NAME] in message
    assert leftovers(cache) == [] and leftovers(cache.parent) in ([], ["file_sha256.json"])


def test_a_connection_dropped_mid_file_leaves_nothing(mirror, cache):
    mirror.cut.add(f"/texts/{NAME}")
    with pytest.raises(llm_texts.PaperTextsUnavailable):
        llm_texts.resolve(f"paper:{NAME}")
    assert leftovers(cache) == []


def test_a_changed_cached_file_is_fetched_again(mirror, cache):
    path = llm_texts.resolve(f"paper:{NAME}")
    path.write_bytes(b"aeroplane >=edited by hand\n")
    assert llm_texts.resolve(f"paper:{NAME}").read_bytes() == mirror.files[f"/texts/{NAME}"]
    assert len(mirror.requests) == 2


def test_offline_without_a_cached_copy_says_where_and_how(cache, monkeypatch):
    """One line: the file, the exact cache path, the fetch command and this project's texts instead."""
    url = closed_port_url()
    monkeypatch.setenv(llm_texts.URL_VARIABLE, url)
    with pytest.raises(llm_texts.PaperTextsUnavailable) as err:
        llm_texts.resolve(f"paper:{NAME}")
    message = str(err.value)
    assert "\n" not in message
    assert str(cache / NAME) in message and f"{url}/{NAME}" in message
    assert f"scripts/fetch_paper_texts.py --only {NAME}" in message and message.endswith("--texts ours")
    assert leftovers(cache) == []


def test_the_pinned_source_is_the_papers():
    """The default source is the authors' repository at the commit and digests of METHOD.md section 7."""
    method = (REPO.parent / "shared" / "spec" / "METHOD.md")
    if method.is_file():
        text = method.read_text()
        assert llm_texts.PAPER_COMMIT in text
        for name, digest in llm_texts.PAPER_SHA256.items():
            assert f"| {name} | {digest} |" in text
    assert len(llm_texts.PAPER_SHA256) == 5
    assert llm_texts.PAPER_BASE_URL.endswith(f"/{llm_texts.PAPER_COMMIT}/llama_generated_texts")


def test_unknown_references_are_one_line_errors():
    with pytest.raises(TextFileError, match="published no such LLM text; its files are voc21_definitions"):
        llm_texts.resolve("paper:ade20k_definitions.txt")
    with pytest.raises(TextFileError, match="ours:nothing.txt: no such file in .*llm_texts; shipped texts: "):
        llm_texts.resolve("ours:nothing.txt")
    assert llm_texts.resolve("ours:voc21_definitions.txt") == REPO / "llm_texts" / NAME


# --- the switch and the configs ---------------------------------------------------------------------------

PAPER_CONFIGS = {"cfg_voc21": "voc21_definitions.txt", "cfg_context60": "context60_definitions.txt",
                 "cfg_coco_object": "coco_object_synonyms.txt", "cfg_coco_stuff164k": "coco_stuff_definitions.txt",
                 "cfg_cityscapes": "cityscapes_synonyms.txt"}
OUR_CONFIGS = {"cfg_voc20": "voc21_definitions.txt", "cfg_context59": "context60_definitions.txt",
               "cfg_ade20k": "ade20k_definitions.txt"}


@pytest.mark.parametrize("config", sorted(PAPER_CONFIGS) + sorted(OUR_CONFIGS))
def test_configs_read_the_papers_texts_where_the_paper_has_them(config):
    model = Config.fromfile(str(REPO / "configs" / f"{config}.py"), import_custom_modules=False).model
    expected = f"paper:{PAPER_CONFIGS[config]}" if config in PAPER_CONFIGS else f"ours:{OUR_CONFIGS[config]}"
    assert model.auxiliary_text_path == expected
    header = (REPO / "configs" / f"{config}.py").read_text().split("_base_")[0]
    assert ("the paper's own" in header) == (config in PAPER_CONFIGS) and "LLM texts" in header


def test_switch():
    assert llm_texts.switch("paper:voc21_definitions.txt", "ours") == "ours:voc21_definitions.txt"
    assert llm_texts.switch("ours:voc21_definitions.txt", "paper") == "paper:voc21_definitions.txt"
    assert llm_texts.switch("paper:voc21_definitions.txt", "paper") == "paper:voc21_definitions.txt"
    assert llm_texts.switch("/my/texts.txt", "none") is None and llm_texts.switch(None, "none") is None
    with pytest.raises(ValueError, match=r"^--texts paper: the paper published no texts for this config"):
        llm_texts.switch("ours:ade20k_definitions.txt", "paper")
    with pytest.raises(ValueError, match=r"^--texts ours: the config reads /my/texts.txt, not a"):
        llm_texts.switch("/my/texts.txt", "ours")
    with pytest.raises(ValueError, match=r"^texts=ours: the config reads no LLM texts"):
        llm_texts.switch(None, "ours", "texts=")
    with pytest.raises(ValueError, match="choose one of paper, ours, none"):
        llm_texts.switch("paper:voc21_definitions.txt", "theirs")


@pytest.mark.parametrize("choice", ["ours", "none"])
def test_ours_and_none_build_without_the_network(choice, cache, monkeypatch, tiny_checkpoint):
    """No server, no cache: the paper's config still builds with our texts or none."""
    from itaclip.api import Segmenter

    monkeypatch.setenv(llm_texts.URL_VARIABLE, closed_port_url())
    segmenter = Segmenter.from_preset("voc21", weights=str(tiny_checkpoint), device="cpu", texts=choice)
    record = segmenter.settings["llm_texts"]
    assert record["source"] == choice
    if choice == "ours":
        assert record["sha256"] == hashlib.sha256((REPO / "llm_texts" / NAME).read_bytes()).hexdigest()
    assert leftovers(cache) == []
    with pytest.raises(llm_texts.PaperTextsUnavailable) as err:  # the default needs the paper's file
        Segmenter.from_preset("voc21", weights=str(tiny_checkpoint), device="cpu")
    assert str(err.value).endswith("texts='ours' (or texts='none')")


def test_texts_record(mirror, tmp_path):
    own = tmp_path / "mine.txt"
    own.write_text("aeroplane >=mine\n")
    paper = provenance.texts_record(f"paper:{NAME}")
    assert paper["source"] == "paper" and paper["sha256"] == llm_texts.PAPER_SHA256[NAME]
    assert paper["commit"] == llm_texts.PAPER_COMMIT and paper["url"] == f"{mirror.url}/{NAME}"
    assert provenance.texts_record(str(REPO / "llm_texts" / NAME))["source"] == "ours"
    mine = provenance.texts_record(own)
    assert mine["source"] == "file" and mine["sha256"] == hashlib.sha256(b"aeroplane >=mine\n").hexdigest()
    assert provenance.texts_record(None)["source"] == "none"


def test_weights_digest_is_computed_once_per_file(tmp_path, monkeypatch):
    from itaclip import fetch

    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not really weights")
    calls = []
    real = fetch.sha256_file
    monkeypatch.setattr(fetch, "sha256_file", lambda p: calls.append(p) or real(p))
    first = fetch.file_sha256(weights)
    assert first == hashlib.sha256(b"not really weights").hexdigest()
    assert fetch.file_sha256(weights) == first and len(calls) == 1  # remembered
    weights.write_bytes(b"other weights, other size")
    assert fetch.file_sha256(weights) == hashlib.sha256(b"other weights, other size").hexdigest()
    assert len(calls) == 2


# --- eval.py end to end: the paper's texts by default, every number traceable ------------------------------

EVAL_WITH_PINS = """
import json, runpy, sys
from itaclip import llm_texts
llm_texts.PAPER_SHA256 = json.loads(sys.argv[1])  # the test's pin table for the files its server holds
sys.argv = ["eval.py", *sys.argv[2:]]
runpy.run_path({eval!r}, run_name="__main__")
"""


def run_eval_pinned(tmp_path, env, pins, data_root, *args):
    import json
    import os
    import subprocess
    import sys

    work = tmp_path / "work"
    code = EVAL_WITH_PINS.format(eval=str(REPO / "eval.py"))
    options = ["--config", "cfg_voc21", "--data-root", str(data_root), "--work-dir", str(work), *args]
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(pins), *options], cwd=tmp_path, timeout=300,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO), **env))
    metrics = work / "metrics.json"
    record = json.loads(metrics.read_text()) if proc.returncode == 0 else None
    if metrics.exists():
        metrics.unlink()
    return proc, record


@pytest.mark.slow
def test_eval_reads_the_papers_texts_and_records_what_produced_each_number(tmp_path, tiny_checkpoint, local_server):
    import shutil
    import subprocess

    import torch
    from test_eval import write_voc

    names = write_voc(tmp_path / "VOC2012")
    server = local_server
    server.url = f"{server.base}/texts"
    data = fake_paper_file("cls_voc21.txt", True)
    server.files[f"/texts/{NAME}"] = data
    pins = {NAME: hashlib.sha256(data).hexdigest()}
    cache = tmp_path / "cache"
    env = {"ITACLIP_CACHE": str(cache), llm_texts.URL_VARIABLE: server.url, "OMP_NUM_THREADS": "1"}
    options = ["--cfg-options", f"model.model_name={tiny_checkpoint}", "model.device=cpu",
               "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False",
               "model.slide_stride=112", "model.pamr_steps=2"]
    try:
        proc, record = run_eval_pinned(tmp_path, env, pins, tmp_path / "VOC2012", *options)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert server.requests == [f"/texts/{NAME}"] and (cache / "paper_texts" / NAME).read_bytes() == data

    texts = record["llm_texts"]
    assert texts["source"] == "paper" and texts["reference"] == f"paper:{NAME}" and texts["sha256"] == pins[NAME]
    assert texts["path"] == str((cache / "paper_texts" / NAME).resolve()) and texts["url"] == f"{server.url}/{NAME}"
    assert texts["commit"] == llm_texts.PAPER_COMMIT
    weights = record["weights"]
    assert weights["path"] == str(tiny_checkpoint.resolve())
    assert weights["sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert record["config"]["file"] == str(REPO / "configs" / "cfg_voc21.py")
    merged = Config.fromstring(record["config"]["merged"], ".py")
    assert merged.model.auxiliary_text_path == f"paper:{NAME}" and merged.model.slide_stride == 112
    packages = record["software"]["packages"]
    assert packages["torch"] == torch.__version__ and packages["mmsegmentation"] == "1.2.2"
    assert packages["mmengine"] == "0.10.7" and packages["open_clip_torch"] and packages["itaclip"]
    if (REPO / ".git").exists():
        git = record["software"]["git"]
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
        assert git == dict(commit=head.stdout.strip(), changed=bool(status.stdout.strip()))
    assert record["device"]["device"] == "cpu" and record["device"]["precision"] == "fp32"
    assert record["device"]["name"]
    assert record["data"] == dict(root=str((tmp_path / "VOC2012").resolve()), images=len(names))
    assert 0 <= record["metrics"]["mIoU"] <= 100
    log = proc.stdout + proc.stderr
    assert "run record:" in log and pins[NAME] in log and weights["sha256"] in log

    # The server is gone: the cached copy is read, the same file is recorded.
    proc, again = run_eval_pinned(tmp_path, env, pins, tmp_path / "VOC2012", *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert again["llm_texts"] == texts and again["metrics"] == record["metrics"]

    # No mirror, no cache: one line saying where the file goes and how to do without, before any work.
    offline = dict(env, ITACLIP_CACHE=str(tmp_path / "empty"), **{llm_texts.URL_VARIABLE: closed_port_url()})
    shutil.rmtree(tmp_path / "work")
    proc, _ = run_eval_pinned(tmp_path, offline, pins, tmp_path / "VOC2012", *options)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr[-3000:]
    assert str(tmp_path / "empty" / "paper_texts" / NAME) in lines[0] and lines[0].endswith("--texts ours")
    assert "Traceback" not in proc.stderr and not (tmp_path / "work").exists()

    # --texts ours needs no network.
    proc, ours = run_eval_pinned(tmp_path, offline, pins, tmp_path / "VOC2012", "--texts", "ours", *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ours["llm_texts"]["source"] == "ours" and ours["llm_texts"]["reference"] == f"ours:{NAME}"
    assert ours["llm_texts"]["sha256"] == hashlib.sha256((REPO / "llm_texts" / NAME).read_bytes()).hexdigest()
