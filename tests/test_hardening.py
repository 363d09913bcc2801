"""Odd inputs, second round: nothing lost, nothing wrong without a word, no traceback (one line instead)."""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from itaclip import api, cli, fetch
from itaclip.text_encoder import DiskCache

REPO = Path(__file__).resolve().parents[1]
FAST = ["--set", "slide_stride=112", "--set", "pamr_steps=0"]


def picture(path: Path, size=(60, 80), seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(*args: str, tiny: Path) -> int:
    return cli.main(["segment", *args, "--weights", str(tiny), "--device", "cpu", *FAST])


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if "INFO" not in line]
    assert len(lines) == 1, lines
    return lines[0]


# --- classes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("classes, background, named", [
    ("cat, cat, dog, cat", None, "'cat' (3 times)"),
    ("cat; Cat , dog", None, "'cat' (2 times)"),
    ("cat, dog", "sky, dog", "'dog' (2 times)"),
])
def test_a_name_given_twice_is_refused_before_anything_loads(tmp_path, capsys, classes, background, named):
    image = picture(tmp_path / "x.jpg")
    args = ["segment", str(image), "--classes", classes, "--out", str(tmp_path / "out")]
    assert cli.main(args + (["--background", background] if background else [])) == 2
    line = one_error_line(capsys)
    assert line.startswith("itaclip segment: error: --classes: class names given more than once: ") and named in line
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="given more than once"):
        api.class_names_of([c.strip() for c in classes.split(",")], background.split(", ") if background else None)


@pytest.mark.parametrize("option", ["--classes-file", "--texts-file"])
def test_a_file_that_is_not_utf8_is_one_line(tmp_path, capsys, option):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"cat\n\xff\xfe dog\n")
    image = picture(tmp_path / "x.jpg")
    extra = ["--classes", "cat, dog"] if option == "--texts-file" else []
    assert cli.main(["segment", str(image), option, str(bad), *extra, "--out", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys).endswith(f"file {bad}, line 2 is not UTF-8 text; save the file as UTF-8")


# --- outputs are never inputs, and never another's file -------------------------------------------------------

def test_out_equal_to_the_input_folder_keeps_the_users_files(tmp_path, tiny_checkpoint, capsys):
    folder = tmp_path / "same"
    picture(folder / "x.jpg")
    picture(folder / "x_mask.png", seed=1)  # the user's own file, named like a result of x.jpg
    users = digests(folder)
    for _ in range(2):
        assert run(str(folder), "--classes", "cat, dog", "--out", str(folder), tiny=tiny_checkpoint) == 1
        err = capsys.readouterr().err
        assert f"{folder / 'x_mask.png'} exists and was not written by itaclip; not replaced" in err
    now = digests(folder)
    assert {name: now[name] for name in users} == users  # the user's files untouched
    produced = sorted(set(now) - set(users))
    assert produced == ["manifest.jsonl", "x_mask.json", "x_mask_mask.png", "x_mask_overlay.png"]  # no x_mask_mask_mask


def test_two_runs_at_once_into_one_out_never_replace_each_other(tmp_path, tiny_checkpoint):
    first, second = picture(tmp_path / "d1" / "x.jpg", seed=1), picture(tmp_path / "d2" / "x.jpg", seed=2)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    runs = [subprocess.Popen([sys.executable, "-m", "itaclip.cli", "segment", str(image), "--classes", "cat, dog",
                              "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(out), *FAST],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for image in (first, second)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "x" in loser and "not replaced" in loser
    winner = json.loads((out / "x.json").read_text())["image"]
    assert winner in (str(first), str(second))
    assert not list(out.glob(".*.claim"))


# --- caches are checked when read -------------------------------------------------------------------------------

def test_a_cache_entry_with_nan_or_the_wrong_shape_is_recomputed(tmp_path):
    cache = DiskCache(tmp_path, dict(model="m"), dim=4)
    cache.put("cat", torch.ones(4))
    assert torch.equal(cache.get("cat"), torch.ones(4))
    for bad, what in ((torch.tensor([1.0, float("nan"), 0, 0]), "non-finite"), (torch.ones(3), "wrong shape")):
        cache.put("cat", bad)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert cache.get("cat") is None
        assert len(caught) == 1 and what in str(caught[0].message)


def test_a_pinned_file_edited_with_its_mtime_restored_is_fetched_again(tmp_path, local_server):
    body = b"paper text " * 100
    local_server.files["/text.txt"] = body
    target = tmp_path / "text.txt"
    digest = hashlib.sha256(body).hexdigest()
    assert fetch.download(local_server.base + "/text.txt", target, digest) == target
    fetch.file_sha256(target)  # the size+mtime memo now holds the right digest
    stat = target.stat()
    target.write_bytes(body.replace(b"paper", b"PAPER"))  # same length
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fetch._VERIFIED.clear()  # a new process
    requests = len(local_server.requests)
    fetch.download(local_server.base + "/text.txt", target, digest)
    assert len(local_server.requests) == requests + 1 and target.read_bytes() == body


# --- images that are thin, huge or odd: one line each, the batch goes on ---------------------------------------

def test_thin_images_get_a_line_and_the_batch_goes_on(tmp_path, tiny_checkpoint, capsys):
    folder = tmp_path / "in"
    picture(folder / "a_thin.png", size=(1, 600))
    picture(folder / "b_tall.png", size=(20000, 2))
    picture(folder / "c_fine.jpg")
    assert run(str(folder), "--classes", "cat, dog", "--out", str(tmp_path / "out"), tiny=tiny_checkpoint) == 1
    err = capsys.readouterr().err
    assert "a_thin.png: 600 x 1 pixels, 2048 x 3 once resized, is thinner than one patch" in err
    assert "b_tall.png: 2 x 20000 pixels" in err and "Traceback" not in err
    assert (tmp_path / "out" / "c_fine_mask.png").is_file()


def test_the_api_refuses_bad_max_pixels_and_empty_images(tiny_checkpoint):
    segmenter = api.Segmenter.from_classes(["cat", "dog"], weights=str(tiny_checkpoint), device="cpu",
                                           slide_stride=112, pamr_steps=0)
    rgb = np.zeros((60, 80, 3), np.uint8)
    for bad in (0, 0.5, -1, True):
        with pytest.raises(ValueError, match=f"max_pixels={bad!r}: max_pixels must be a whole number"):
            segmenter.segment(rgb, max_pixels=bad)
    with pytest.raises(api.ImageTooSmall, match="0 x 0 pixels: the image is empty"):
        segmenter.segment(np.zeros((0, 0, 3), np.uint8))
    result = segmenter.segment(rgb)
    with pytest.raises(ValueError, match="an image of 40 x 30 pixels for labels of 80 x 60: give the image this"):
        result.overlay(np.zeros((30, 40, 3), np.uint8))


@pytest.mark.slow  # a server
def test_serve_stopped_by_sigterm_removes_its_results_folder(tiny_checkpoint, tmp_path):
    import signal
    import tempfile
    import time

    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "itaclip.cli", "serve", "--weights", str(tiny_checkpoint),
                               "--device", "cpu", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not list(tmp_path.glob("itaclip_serve_*")):
        time.sleep(0.2)
    assert list(tmp_path.glob("itaclip_serve_*")), server.stderr.read() if server.poll() is not None else ""
    time.sleep(2)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert not list(tmp_path.glob("itaclip_serve_*")) and tempfile.gettempdir() != str(tmp_path)


# --- eval.py checks its data before the model is built -----------------------------------------------------------

@pytest.fixture
def voc_root(tmp_path) -> Path:
    root = tmp_path / "VOC2012"
    for name in ("a", "b"):
        picture(root / "JPEGImages" / f"{name}.jpg")
        labels = root / "SegmentationClass" / f"{name}.png"
        labels.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((60, 80), np.uint8)).save(labels)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    return root


@pytest.mark.parametrize("split, message", [
    ("", "lists no image"),
    ("a\nb\na\na\n", "lists a 3 times (1 images listed more than once)"),
    ("a\nb\nc\n", "JPEGImages/c.jpg is missing (1 of the 3 images listed"),
])
def test_eval_checks_the_split_first(voc_root, split, message):
    import itaclip.models  # noqa: F401  (registers the data sets)
    from itaclip.evaluate import check_split

    (voc_root / "ImageSets" / "Segmentation" / "val.txt").write_text(split)
    cfg = Config.fromfile(str(REPO / "configs" / "cfg_voc21.py"), import_custom_modules=False)
    cfg.test_dataloader.dataset.data_root = str(voc_root)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_split(cfg)
    (voc_root / "ImageSets" / "Segmentation" / "val.txt").write_text("a\nb\n")
    assert check_split(cfg) == 2


# --- the page's server ------------------------------------------------------------------------------------------

def test_serve_on_a_port_in_use_or_a_bad_host_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
        assert one_error_line(capsys) == (f"itaclip serve: error: --host 127.0.0.1 --port {port}: that address is "
                                          "in use; choose another --port")
    assert cli.main(["serve", "--host", "999.1.1.1"]) == 2
    assert "--host 999.1.1.1: not an address of this machine" in one_error_line(capsys)


def eval_config(root: Path, monkeypatch, *options: str):
    from itaclip.evaluate import build_config, parse_args

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what eval.py does for a CPU run; undone after the test
    return build_config(parse_args(["--config", "cfg_voc21", "--data-root", str(root), "--cfg-options",
                                    "model.device=cpu", *options]))


@pytest.mark.parametrize("labels, message", [
    (np.array([[0, 30], [100, 255]], np.uint8), "holds values 30, 100 outside the 21 classes (0-20)"),
    (np.zeros((10, 10), np.uint8), "is 10 x 10, its image 80 x 60; labels must have their image's size"),
])
def test_eval_checks_every_label_first(voc_root, monkeypatch, labels, message):
    import itaclip.models  # noqa: F401
    from itaclip.evaluate import check_split

    (voc_root / "ImageSets" / "Segmentation" / "val.txt").write_text("a\nb\n")
    Image.fromarray(np.resize(labels, (60, 80)) if labels.shape == (2, 2) else labels).save(
        voc_root / "SegmentationClass" / "b.png")
    with pytest.raises(ValueError, match=re.escape(f"label file {voc_root / 'SegmentationClass' / 'b.png'} {message}")):
        check_split(eval_config(voc_root, monkeypatch))
    if labels.shape == (2, 2):  # values outside the classes scored as ignored, when asked
        cfg = eval_config(voc_root, monkeypatch, "label_check=ignore")
        assert check_split(cfg) == 2
        from mmseg.registry import TRANSFORMS

        loader = TRANSFORMS.build(cfg.test_dataloader.dataset.pipeline[2])
        results = dict(seg_map_path=str(voc_root / "SegmentationClass" / "b.png"), reduce_zero_label=False,
                       seg_fields=[])
        loader(results)
        assert sorted(np.unique(results["gt_seg_map"]).tolist()) == [0, 255]


@pytest.mark.slow  # a process each
@pytest.mark.parametrize("option, start", [
    ("model.bogus=1", "eval.py: bogus: ITACLIPSegmentor takes no key 'bogus'"),
    ("model.slide_stride=0", "eval.py: slide_stride=0: slide_stride must be a whole number, 1 or more"),
    ("model.pamr_stride=abc", "eval.py: pamr_stride='abc': pamr_stride must be a list of whole numbers"),
    ("test_dataloader.num_workers=-1", "eval.py: --cfg-options test_dataloader.num_workers=-1: a whole number"),
    ("nokey", "eval.py: error: --cfg-options nokey: write KEY=VALUE"),
    ("label_check=maybe", "eval.py: --cfg-options label_check=maybe: one of error, ignore, off"),
    ("READONLY", "eval.py: --out "),
])
def test_eval_options_are_one_line(voc_root, tiny_checkpoint, tmp_path, option, start):
    (voc_root / "ImageSets" / "Segmentation" / "val.txt").write_text("a\n")
    extra = []
    if option == "READONLY":  # an --out that cannot be written (below a file): said before any image is scored
        (tmp_path / "a_file").write_text("not a folder")
        extra, option = ["--out", str(tmp_path / "a_file" / "preds")], "model.device=cpu"
    proc = subprocess.run([sys.executable, str(REPO / "eval.py"), "--config", "cfg_voc21", "--data-root", str(voc_root),
                           "--work-dir", str(tmp_path / "work"), "--texts", "none", *extra, "--cfg-options",
                           f"model.model_name={tiny_checkpoint}", "model.device=cpu", option],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(start), proc.stderr[-2000:]


@pytest.mark.slow  # a process each
@pytest.mark.parametrize("args, start", [
    (["--images", "0"], "benchmark.py: error: --images must be 1 or more"),
    (["--input-size", "0", "0"], "benchmark.py: error: --input-size and --ori-size take two sizes"),
    (["--random-weights", "RN50"], "benchmark.py: model_name RN50:...: RN50 cannot be used: its vision tower is a"),
    (["--weights", "garbage"], "benchmark.py: model_name 'garbage' is neither a file nor a known spelling"),
])
def test_benchmark_options_are_one_line(args, start):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark.py"), "--device", "cpu", *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(start), proc.stderr[-2000:]


# --- one set of rules: the API refuses what the command refuses -----------------------------------------------

def bad_values() -> list[tuple[str, object]]:
    """For every setting the command's --set takes, a value its rule refuses (the first of a few)."""
    import ast

    from itaclip.settings import SettingError, check_key, settable

    def as_typed(value) -> object:  # what --set makes of the value written out
        try:
            return ast.literal_eval(typed(value))
        except (ValueError, SyntaxError):
            return typed(value)

    candidates = [float("nan"), float("inf"), -1, 1e999, "abc", (0, 0), 0.5, 5, 2, 0, ""]
    found = []
    for key in [key for key in settable() if key in cli.SETTABLE]:
        for value in candidates:
            refused = 0
            for candidate in (value, as_typed(value)):
                try:
                    check_key(key, candidate)
                except SettingError:
                    refused += 1
            if refused == 2:
                found.append((key, value))
                break
    return found


def typed(value) -> str:
    return repr(value) if not isinstance(value, float) or np.isfinite(value) else str(value)


@pytest.mark.parametrize("key, value", bad_values(), ids=[key for key, _ in bad_values()])
def test_the_api_refuses_what_the_command_refuses(tiny_checkpoint, capsys, tmp_path, key, value):
    from itaclip.settings import SettingError

    assert cli.main(["segment", str(picture(tmp_path / "x.jpg")), "--classes", "cat, dog", "--set",
                     f"{key}={typed(value)}", "--out", str(tmp_path / "out")]) == 2
    command = one_error_line(capsys).split(": ", 3)[-1]  # after "itaclip segment: error: --set key=typed:"
    with pytest.raises(SettingError) as refused:
        api.Segmenter.from_classes(["cat", "dog"], weights=str(tiny_checkpoint), device="cpu", **{key: value})
    assert str(refused.value).endswith(command), (str(refused.value), command)


# --- --max-pixels decodes at a reduced size ---------------------------------------------------------------------

def test_a_jpeg_is_decoded_reduced_for_max_pixels(tmp_path, tiny_checkpoint, capsys):
    from itaclip.render import decode_reduced

    big = tmp_path / "in" / "big.jpg"
    big.parent.mkdir()
    rgb = np.kron(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8), np.ones((80, 80, 1),
                                                                                                    np.uint8))
    Image.fromarray(rgb).save(big, quality=90)  # 3200 x 2400
    small = decode_reduced(big, 200_000)
    assert small.shape == (600, 800, 3)  # JPEG's own 1/4 scale: at least 200,000 pixels, never the 7.7 MP whole
    png = picture(tmp_path / "in" / "big.png", size=(1200, 1600))
    assert decode_reduced(png, 200_000).shape == (400, 534, 3)  # decoded whole, then reduced by 3 (ceil)
    out = tmp_path / "out"
    assert run(str(big), "--classes", "cat, dog", "--max-pixels", "200000", "--out", str(out),
               tiny=tiny_checkpoint) == 0, capsys.readouterr().err
    summary = json.loads((out / "big.json").read_text())
    assert (summary["width"], summary["height"]) == (3200, 2400) and summary["working_size"]["height"] < 2400
    assert Image.open(out / "big_mask.png").size == (3200, 2400)
    assert Image.open(out / "big_overlay.png").height == 600  # drawn at the decoded size


# --- the text generator ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, start", [
    (b"cat\nbig >= small\n", "error: class name 'big >= small' in"),
    (b"cat\n\xff dog\n", "error: class-name file"),
])
def test_generate_texts_refuses_in_one_line(tmp_path, content, start):
    classes = tmp_path / "classes.txt"
    classes.write_bytes(content)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "generate_texts.py"), "--classes", str(classes),
                           "--out", str(tmp_path / "texts.txt")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(start) and not (tmp_path / "texts.txt").exists()


def test_a_class_line_without_a_name_and_a_window_under_a_patch_are_one_line(tmp_path, tiny_checkpoint, capsys):
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\n, \n")
    image = picture(tmp_path / "x.jpg")
    assert cli.main(["segment", str(image), "--classes-file", str(classes), "--out", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys).endswith(f"--classes-file {classes}, line 2 names no class; write one class per "
                                           "line, its names separated by ', '")
    assert run(str(image), "--classes", "cat, dog", "--set", "slide_crop=5", "--out", str(tmp_path / "out"),
               tiny=tiny_checkpoint) == 2
    assert one_error_line(capsys).endswith("error: --set slide_crop=5: slide_crop must be 0 (the whole image) or at "
                                           "least 16 pixels for this model")
    assert not (tmp_path / "out").exists()


def test_a_recursive_run_into_a_folder_inside_its_input_does_not_feed_on_its_results(tmp_path, tiny_checkpoint):
    folder = tmp_path / "photos"
    picture(folder / "a" / "x.jpg")
    for _ in range(2):
        assert run(str(folder), "--recursive", "--classes", "cat, dog", "--out", str(folder / "out"),
                   tiny=tiny_checkpoint) == 0
        lines = (folder / "out" / "manifest.jsonl").read_text().splitlines()
        assert [json.loads(line)["path"] for line in lines] == [str(folder / "a" / "x.jpg")]
    assert not (folder / "out" / "out").exists()


def test_a_list_that_cannot_be_read_is_one_line_before_anything_loads(tmp_path, capsys):
    assert cli.main(["segment", "--input-list", str(tmp_path / "none.txt"), "--classes", "cat, dog", "--out",
                     str(tmp_path / "out")]) == 2
    assert one_error_line(capsys) == (f"itaclip segment: error: --input-list {tmp_path / 'none.txt'}: cannot read it "
                                      "(No such file or directory)")
    assert not (tmp_path / "out").exists()


def test_results_that_cannot_be_written_fail_that_image_only(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    import errno

    real = cli.save_results

    def full_disk_for_a(image, *args, **kwargs):
        if Path(image).stem == "a":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(image, *args, **kwargs)

    monkeypatch.setattr(cli, "save_results", full_disk_for_a)
    folder = tmp_path / "in"
    picture(folder / "a.jpg")
    picture(folder / "b.jpg", seed=1)
    assert run(str(folder), "--classes", "cat, dog", "--out", str(tmp_path / "out"), tiny=tiny_checkpoint) == 1
    assert f"a.jpg: cannot write results to {tmp_path / 'out'} (No space left on device)" in capsys.readouterr().err
    assert (tmp_path / "out" / "b_mask.png").is_file() and not list((tmp_path / "out").glob(".*.claim"))
