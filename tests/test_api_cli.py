"""The single-image entry points: ``itaclip.api.Segmenter``, the ``itaclip segment`` command, demo.ipynb.

CPU and offline, with the tiny random CLIP; small images and a coarse window
stride (``FAST``) keep it short where a test is not about those settings.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from nbclient import NotebookClient
from PIL import Image, ImageFont

from itaclip import api, cli, collection

REPO = Path(__file__).resolve().parents[1]
FAST = dict(slide_stride=112, pamr_steps=2)
CLASSES = "cat; kitty, dog, sofa"
BACKGROUND = "wall, floor, sky"


def picture(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """RGB uint8 with a flat band, so that some predictions are stable."""
    rgb = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    rgb[: height // 2] = (200, 120, 40)
    return rgb


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """An RGB JPEG, a grayscale PNG, an RGBA PNG and a corrupt 'JPEG'."""
    folder = tmp_path_factory.mktemp("mixed")
    rgb = picture()
    Image.fromarray(rgb).save(folder / "good.jpg", quality=95)
    Image.fromarray(rgb[..., 1]).save(folder / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 90, np.uint8)])).save(folder / "rgba.png")
    (folder / "bad.jpg").write_bytes(np.random.default_rng(1).bytes(700))
    (folder / "notes.txt").write_text("not an image: skipped by the folder scan\n")
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "itaclip.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fast_options() -> list[str]:
    return [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]


# ------------------------------------------------------------------------------------------ command

def test_console_script_is_declared():
    """`pip install` puts an `itaclip` command on the PATH that runs cli.main."""
    text = (REPO / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    section = text.split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]
    assert 'itaclip = "itaclip.cli:main"' in section.splitlines()


@pytest.mark.slow
def test_folder_with_unreadable_file(mixed_folder, tiny_checkpoint, tmp_path):
    """Each readable image gets its three files; the corrupt one a line on stderr; exit status 1."""
    out = tmp_path / "out"
    done = run_cli("segment", str(mixed_folder), "--classes", CLASSES, "--background", BACKGROUND,
                   "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(out), *fast_options())
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "cannot read image" in line]
    assert errors == [f"{mixed_folder / 'bad.jpg'}: cannot read image (unknown format or corrupt data)"]
    names = ["background", "cat", "dog", "sofa"]
    for stem in ("good", "gray", "rgba"):
        mask = Image.open(out / f"{stem}_mask.png")
        assert mask.mode == "P" and mask.size == (80, 60)
        assert np.asarray(mask).max() < len(names)
        assert mask.getpalette()[:3] == [0, 0, 0]  # background is black
        overlay = Image.open(out / f"{stem}_overlay.png")
        assert overlay.mode == "RGB" and overlay.width > 80 and overlay.height >= 60  # legend to the right
        summary = json.loads((out / f"{stem}.json").read_text())
        assert (summary["width"], summary["height"]) == (80, 60)
        assert [c["name"] for c in summary["classes"]] == names
        assert summary["classes"][1]["names"] == ["cat", "kitty"]
        assert sum(c["share"] for c in summary["classes"]) == pytest.approx(1.0)
        labels = np.asarray(mask)
        for c in summary["classes"]:
            assert c["share"] == pytest.approx((labels == c["index"]).mean())
        settings = summary["settings"]
        assert settings["preset"] == "voc21" and settings["background"] == ["wall", "floor", "sky"]
        assert settings["weights"] == dict(model_name=str(tiny_checkpoint), path=str(tiny_checkpoint.resolve()),
                                           sha256=sha256(tiny_checkpoint)) and settings["device"] == "cpu"
        assert settings["llm_texts"] == dict(source="none", reference=None, path=None, sha256=None)
        assert (settings["slide_stride"], settings["pamr_steps"], settings["logit_scale"]) == (112, 2, 60)
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.jsonl"] + [
        f"{stem}{suffix}" for stem in ("good", "gray", "rgba") for suffix in ("_mask.png", "_overlay.png", ".json")])


def test_good_folder_exits_0_with_class_and_text_files(tmp_path, tiny_checkpoint, capsys):
    """Class-name and LLM-text files in the project's formats; no background: every pixel gets a class."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(picture(seed=3)).save(folder / "one.png")
    (tmp_path / "classes.txt").write_text("cat, kitty\ndog\n")
    (tmp_path / "texts.txt").write_text("cat >=a small furry pet.\ndog >=a loyal animal that barks.\n")
    out = tmp_path / "out"
    status = cli.main(["segment", str(folder), "--classes-file", str(tmp_path / "classes.txt"),
                       "--texts-file", str(tmp_path / "texts.txt"), "--weights", str(tiny_checkpoint),
                       "--device", "cpu", "--out", str(out), *fast_options()])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "one.json").read_text())
    assert [c["names"] for c in summary["classes"]] == [["cat", "kitty"], ["dog"]]
    settings = summary["settings"]
    assert settings["preset"] == "coco_stuff164k" and settings["background"] is None
    assert settings["llm_texts"] == dict(source="file", reference=str(tmp_path / "texts.txt"),
                                         path=str((tmp_path / "texts.txt").resolve()), sha256=hashlib.sha256(
                                             (tmp_path / "texts.txt").read_bytes()).hexdigest())
    assert settings["prob_thd"] == 0.0 and settings["area_thd"] is None
    assert np.asarray(Image.open(out / "one_mask.png")).max() < 2
    assert not [p for p in out.iterdir() if p.suffix == ".tmp" or p.name.startswith(".")]
    umask = os.umask(0o022)
    os.umask(umask)
    assert (out / "one.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_preset_classes_and_texts(mixed_folder, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """Without --classes, --preset segments into the data set's classes; --texts picks whose texts."""
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ITACLIP_PAPER_TEXTS_URL", "http://127.0.0.1:9/offline")
    common = [str(mixed_folder / "good.jpg"), "--preset", "voc21", "--weights", str(tiny_checkpoint),
              "--device", "cpu", "--out", str(tmp_path / "out"), *fast_options()]
    assert cli.main(["segment", *common]) == 2  # the paper's texts by default: not cached, no network
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "voc21_definitions.txt" in error[0] and error[0].endswith("--texts ours")
    assert str(tmp_path / "cache" / "paper_texts" / "voc21_definitions.txt") in error[0]
    assert not (tmp_path / "out").exists()

    assert cli.main(["segment", *common, "--texts", "ours"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "good.json").read_text())
    assert len(summary["classes"]) == 21 and summary["classes"][1]["name"] == "aeroplane"
    texts = summary["settings"]["llm_texts"]
    assert texts["source"] == "ours" and texts["reference"] == "ours:voc21_definitions.txt"
    assert texts["sha256"] == sha256(REPO / "llm_texts" / "voc21_definitions.txt")
    assert summary["settings"]["weights"]["sha256"] == sha256(tiny_checkpoint)


@pytest.mark.parametrize("args,needle", [
    (["--classes", "cat", "--texts", "ours"], "--texts chooses a preset's own texts; for your classes give "
                                              "--texts-file"),
    (["--preset", "voc21", "--background", "sky"], "--background goes with your own classes"),
    (["--preset", "ade20k", "--texts", "paper"], "--texts paper: the paper published no texts for this config"),
    (["--classes", "cat, dog", "--texts-file", "ours:nothing.txt"], "ours:nothing.txt: no such file in"),
    (["--classes", "cat, dog", "--texts-file", "paper:voc21_definitions.txt"],
     "--texts-file ours:voc21_definitions.txt"),  # offline: how to use ours, in this option's words
    ([], "give the classes with --classes or --classes-file, or name a data set's with --preset"),
])
def test_text_and_preset_usage_errors(mixed_folder, tmp_path, monkeypatch, capsys, args, needle):
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ITACLIP_PAPER_TEXTS_URL", "http://127.0.0.1:9/offline")
    status = cli.main(["segment", str(mixed_folder / "good.jpg"), "--weights", "/nowhere/clip.pt", *args])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and needle in error[0], error


def test_texts_file_takes_a_reference(mixed_folder, tiny_checkpoint, tmp_path, capsys):
    """--texts-file ours:FILE reads a shipped file and records where it came from."""
    out = tmp_path / "out"
    status = cli.main(["segment", str(mixed_folder / "good.jpg"), "--classes-file",
                       str(REPO / "configs" / "cls_voc20.txt"), "--texts-file", "ours:voc21_definitions.txt",
                       "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(out), *fast_options()])
    assert status == 0, capsys.readouterr().err
    texts = json.loads((out / "good.json").read_text())["settings"]["llm_texts"]
    assert texts == dict(source="ours", reference="ours:voc21_definitions.txt",
                         path=str(REPO / "llm_texts" / "voc21_definitions.txt"),
                         sha256=sha256(REPO / "llm_texts" / "voc21_definitions.txt"))


def test_help(capsys):
    assert cli.main([]) == 2 and "segment" in capsys.readouterr().out  # no command: the overview
    with pytest.raises(SystemExit) as stop:
        cli.main(["segment", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--classes", "--background", "--classes-file", "--texts-file", "--preset", "--weights",
                   "--device", "--out", "--set"):
        assert option in text


@pytest.mark.parametrize("argv,message", [
    (["segment", "missing.jpg", "--classes", "cat"], "missing.jpg: no such file or folder"),
    (["segment", "IMAGE"], "--classes or --classes-file"),
    (["segment", "IMAGE", "--classes", "cat, ;"], "empty class"),
    (["segment", "IMAGE", "--classes", "cat", "--preset", "nope"], "unknown preset 'nope'; presets: "),
    (["segment", "IMAGE", "--classes", "cat", "--set", "stride=3"], "unknown setting 'stride'"),
    (["segment", "IMAGE", "--classes", "cat", "--weights", "/nowhere/clip.pt"], "neither a file nor"),
    (["segment", "IMAGE", "--classes", "cat", "--texts-file", "TEXTS"], "1 classes"),
    (["segment", "IMAGE", "--classes-file", "/nowhere/classes.txt"], "does not exist"),
    (["segment", "IMAGE", "--classes", "cat", "--set", "slide_stride"], "write KEY=VALUE"),
    (["segment", "IMAGE", "--classes", "cat", "--background", " , "], "--background names nothing"),
    (["segment", "EMPTY", "--classes", "cat"], "no images found in"),
    (["segment", "--classes", "cat"], "give images or folders, or --input-list FILE"),
])
def test_usage_errors_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    """Usage, weight and text errors: exit status 2 and a single line, before any model is built."""
    image, texts = tmp_path / "a.png", tmp_path / "texts.txt"
    Image.fromarray(picture(8, 8)).save(image)
    texts.write_text("cat >=a pet.\ndog >=another pet.\n")
    monkeypatch.chdir(tmp_path)  # the default --out is relative: keep the checkout clean
    (tmp_path / "empty").mkdir()
    names = dict(IMAGE=image, TEXTS=texts, EMPTY=tmp_path / "empty")
    argv = [str(names.get(a, a)) for a in argv]
    try:
        status = cli.main(argv)
    except SystemExit as stop:  # argparse's own errors
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / cli.DEFAULT_OUT).exists()


# -------------------------------------------------------------------------------------- Python API

def manual_predict(model, image_path: Path, cfg: Config):
    """What eval.py does to one image: mmseg's test pipeline (no annotations), preprocessor, predict."""
    pipeline = Compose([step for step in cfg.test_dataloader.dataset.pipeline if step.type != "LoadAnnotations"])
    packed = pipeline(dict(img_path=str(image_path)))
    data = model.data_preprocessor(dict(inputs=[packed["inputs"]], data_samples=[packed["data_samples"]]), False)
    return model.predict(data["inputs"], data["data_samples"])[0]


def test_segment_equals_the_presets_predict(mixed_folder, tiny_checkpoint):
    """Segmenter.from_preset(...).segment(path) gives the label map of the preset's model through mmseg."""
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(REPO / "configs" / "cfg_voc21.py"))
    cfg.model.update(model_name=str(tiny_checkpoint), device="cpu", auxiliary_text_path=None, **FAST)
    expected = manual_predict(MODELS.build(cfg.model), mixed_folder / "good.jpg", cfg)
    segmenter = api.Segmenter.from_preset("voc21", weights=str(tiny_checkpoint), device="cpu",
                                          auxiliary_text_path=None, **FAST)
    result = segmenter.segment(mixed_folder / "good.jpg")
    np.testing.assert_array_equal(result.labels, expected.pred_sem_seg.data[0].numpy())
    torch.testing.assert_close(result.probs, expected.seg_logits.data)
    assert result.labels.shape == (60, 80) and result.probs.shape == (21, 60, 80)
    assert result.class_names[:3] == ["background", "aeroplane", "bicycle"]
    assert segmenter.settings["resize_scale"] == [2048, 336]


def test_from_classes_builds_the_queries_of_the_class_files(golden_dir, tiny_checkpoint):
    """Names, background names and LLM texts given in Python equal the same classes read from files."""
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(REPO / "configs" / "cfg_voc21.py"))
    cfg.model.update(model_name=str(tiny_checkpoint), device="cpu",
                     name_path=str(golden_dir / "voc_like.classes.txt"),
                     auxiliary_text_path=str(golden_dir / "voc_like.aux.txt"))
    from_files = MODELS.build(cfg.model)
    texts = [line.split(">=", 1)[1] for line in (golden_dir / "voc_like.aux.txt").read_text().splitlines()]
    segmenter = api.Segmenter.from_classes(
        ["cat; kitty", ["dog"], "car; automobile; vehicle", "person;person in shirt"],
        background=["sky", "wall", "grass"], texts=texts, weights=str(tiny_checkpoint), device="cpu")
    model = segmenter.model
    assert model.class_names == from_files.class_names and model.background
    assert model.query_idx.tolist() == from_files.query_idx.tolist()
    torch.testing.assert_close(model.query_features, from_files.query_features)
    assert (model.protocol.logit_scale, model.protocol.prob_thd, model.protocol.area_thd) == (60, 0.1, 0.1)
    assert segmenter.class_names == ["background", "cat", "dog", "car", "person"]


def test_readme_example(mixed_folder, tiny_checkpoint, tmp_path, monkeypatch):
    """The Python example of "Segment your own images" runs as written (tiny CLIP, CPU, coarse stride)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Segment your own images", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    code = next(block for block in blocks if 'weights="/path/to/ViT-B-16.pt")' in block)  # the API's example
    assert 'device="cuda"' not in code  # it picks the device itself, so it runs as written on a CPU
    code = code.replace('weights="/path/to/ViT-B-16.pt")', f'weights={str(tiny_checkpoint)!r}, **{FAST!r})')
    (tmp_path / "photo.jpg").write_bytes((mixed_folder / "good.jpg").read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].labels.shape == (60, 80)
    assert namespace["result"].class_names == ["background", "cat", "dog", "tv"]
    assert Image.open(tmp_path / "mask.png").mode == "P" and (tmp_path / "overlay.png").is_file()


def test_without_background_thresholds_are_off_unless_asked(tiny_checkpoint, monkeypatch):
    """prob_thd/area_thd hand pixels to class 0, which is then one of the user's classes."""
    monkeypatch.setenv("ITACLIP_CLIP_WEIGHTS", str(tiny_checkpoint))
    monkeypatch.setenv("ITACLIP_DEVICE", "cpu")
    plain = api.Segmenter.from_classes(["cat", "dog"], preset="voc21")
    assert (plain.model.protocol.prob_thd, plain.model.protocol.area_thd, plain.model.background) == \
        (0.0, None, False)
    assert plain.settings["weights"]["path"] == str(tiny_checkpoint.resolve()) and plain.settings["device"] == "cpu"
    assert plain.settings["weights"]["sha256"] == sha256(tiny_checkpoint)
    assert plain.settings["llm_texts"]["source"] == "none"
    asked = api.Segmenter.from_classes(["cat", "dog"], preset="voc21", prob_thd=0.3)
    assert asked.model.protocol.prob_thd == 0.3
    with pytest.raises(ValueError, match="one per class"):
        api.Segmenter.from_classes(["cat", "dog"], texts=["a pet"])
    with pytest.raises(ValueError, match="no name"):
        api.Segmenter.from_classes(["cat", " ; "])
    with pytest.raises(ValueError, match="at least one class"):
        api.Segmenter.from_classes([])


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'voc'; presets: .*voc21") as err:
        api.Segmenter.from_preset("voc")
    assert "\n" not in str(err.value)


def test_image_inputs_become_rgb(tmp_path):
    """Arrays (RGB, gray, gray x 1, RGBA), PIL images of any mode and files all give H x W x 3 RGB uint8."""
    rgb = picture(6, 7)
    rgba = np.dstack([rgb, np.zeros((6, 7), np.uint8)])
    np.testing.assert_array_equal(api.to_rgb(rgb), rgb)
    np.testing.assert_array_equal(api.to_rgb(rgba), rgb)
    np.testing.assert_array_equal(api.to_rgb(rgb[..., 0]), np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(api.to_rgb(rgb[..., :1]), np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(api.to_rgb(Image.fromarray(rgba)), rgb)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(api.to_rgb(tmp_path / "a.png"), rgb)
    np.testing.assert_array_equal(api.to_rgb(str(tmp_path / "a.png")), rgb)
    stretched = api.to_rgb(rgb.astype(np.float32) / 255)  # float images: stretched from their real range
    assert stretched.min() == 0 and stretched.max() == 255
    with pytest.raises(ValueError, match="shape"):
        api.to_rgb(np.zeros((4, 4, 2), np.uint8))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(api.ImageReadError):
        api.to_rgb(tmp_path / "empty.jpg")
    with pytest.raises(api.ImageReadError, match="No such file"):
        api.to_rgb(tmp_path / "missing.jpg")


def test_palette_is_fixed_and_distinct():
    """Background black; every class its own colour, the same in every run."""
    with_bg, without = api.palette(30, background=True), api.palette(30, background=False)
    assert with_bg[0].tolist() == [0, 0, 0] and without[0].tolist() != [0, 0, 0]
    np.testing.assert_array_equal(with_bg[1:], without[:-1])
    assert len({tuple(c) for c in with_bg}) == 30
    assert api.class_colour(5, False) == tuple(without[5])


def test_overlay_keeps_background_and_lists_classes_present():
    labels = np.zeros((20, 30), np.int64)
    labels[:, 15:] = 2
    result = api.Segmentation(labels=labels, probs=torch.zeros(3, 20, 30), class_names=["background", "a", "b"],
                              classes=[["x"], ["a"], ["b"]], background=True)
    image = picture(20, 30)
    blended = result.blend(image)
    np.testing.assert_array_equal(blended[:, :15], image[:, :15])
    expected = np.rint(0.5 * image[:, 15:] + 0.5 * result.colours[2].astype(np.float64))
    np.testing.assert_allclose(blended[:, 15:], expected, atol=1)
    assert result.present() == [0, 2] and result.shares() == [0.5, 0.0, 0.5]
    overlay = np.asarray(result.overlay(image))
    np.testing.assert_array_equal(overlay[:20, :30], blended)
    legend = overlay[:, 30:].reshape(-1, 3)
    assert (legend == result.colours[2]).all(axis=1).any()  # swatch of class b
    assert not (legend == result.colours[1]).all(axis=1).any()  # class a is absent


# ---------------------------------------------------------------------------------------- notebook

def test_notebook_is_committed_clean():
    notebook = nbformat.read(REPO / "demo.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tiny_checkpoint, tmp_path, monkeypatch):
    """With the tiny CLIP on CPU (and a coarse stride), every cell runs and the figures are drawn."""
    notebook = nbformat.read(REPO / "demo.ipynb", as_version=4)
    settings = [cell for cell in notebook.cells if cell.source.count("settings = {}") == 1]
    assert len(settings) == 1, "the notebook's settings line moved; update this test"
    settings[0].source = settings[0].source.replace("settings = {}", f"settings = {FAST!r}")
    monkeypatch.setenv("ITACLIP_CLIP_WEIGHTS", str(tiny_checkpoint))
    monkeypatch.setenv("ITACLIP_DEVICE", "cpu")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    NotebookClient(notebook, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    figures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(figures) >= 2
    printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "background:" in printed and "% of the pixels" in printed


# ------------------------------------------------------------------------------------ never lose a result

def test_output_names_are_unique_and_deterministic(tmp_path):
    names = [tmp_path / "a" / "x.jpg", tmp_path / "a" / "x-2.jpg", tmp_path / "a" / "x.png",
             tmp_path / "b" / "x.jpg", tmp_path / "a" / "y.jpg"]
    stems = collection.unique_stems(names)
    assert stems == ["a_x_jpg", "x-2", "x_png", "b_x_jpg", "y"]
    assert collection.unique_stems(names) == stems and len(set(stems)) == len(stems)


@pytest.mark.slow
def test_colliding_names_and_reruns_never_lose_a_result(tmp_path, tiny_checkpoint, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(["x.jpg", "x-2.jpg", "x.png"]):
        Image.fromarray(picture(seed=i)).save(folder / name)
    out = tmp_path / "out"
    common = ["--classes", "cat, dog", "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(out),
              *fast_options()]
    assert cli.main(["segment", str(folder), *common]) == 0, capsys.readouterr().err
    records = {p.name: json.loads(p.read_text())["image"] for p in out.glob("*.json")}
    assert records == {"x_jpg.json": str(folder / "x.jpg"), "x-2.json": str(folder / "x-2.jpg"),
                       "x_png.json": str(folder / "x.png")}
    assert len(list(out.iterdir())) == 10  # three files per image and the manifest

    other = tmp_path / "other"  # another x-2.jpg, into the same --out: refused, the first result kept
    other.mkdir()
    Image.fromarray(picture(seed=9)).save(other / "x-2.jpg")
    before = (out / "x-2_mask.png").read_bytes()
    capsys.readouterr()
    assert cli.main(["segment", str(other / "x-2.jpg"), *common]) == 1
    error = capsys.readouterr().err.strip().splitlines()[0]
    assert f"already holds x-2.json from {folder / 'x-2.jpg'}; not replaced" in error
    assert (out / "x-2_mask.png").read_bytes() == before

    assert cli.main(["segment", str(folder), *common, "--skip-existing"]) == 0  # resume: nothing to do
    assert "3 already there, skipped" in capsys.readouterr().err


def test_texts_file_names_must_line_up_with_the_classes(tmp_path, tiny_checkpoint, capsys):
    (tmp_path / "texts.txt").write_text("dog >=a loyal animal\ncat >=a small pet\n")  # swapped
    Image.fromarray(picture()).save(tmp_path / "photo.png")
    status = cli.main(["segment", str(tmp_path), "--classes", "cat, dog", "--texts-file", str(tmp_path / "texts.txt"),
                       "--weights", str(tiny_checkpoint), "--device", "cpu"])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1
    assert f"--texts-file {tmp_path / 'texts.txt'}, line 1 is for 'dog'" in error[0]
    assert "class 1 of --classes, starts with 'cat'" in error[0]


def test_a_byte_order_mark_is_not_part_of_a_name(tmp_path):
    from itaclip.class_files import read_class_names
    path = tmp_path / "classes.txt"
    path.write_bytes("\ufeffcat, kitty\ndog\n".encode("utf-8"))
    assert read_class_names(path) == [["cat", "kitty"], ["dog"]]


@pytest.mark.parametrize("args,needle", [
    (["--set", "pamr_steps=-1"], "--set pamr_steps=-1: pamr_steps must be a whole number, 0 or more"),
    (["--set", "prob_thd=2", "--background", "sky"], "--set prob_thd=2: prob_thd must be a number from 0 to 1"),
    (["--set", "logit_scale=abc"], "--set logit_scale=abc: logit_scale must be a finite number above 0"),
    (["--set", "slide_stride=0"], "slide_stride must be a whole number, 1 or more"),
    (["--set", "closing=1"], "--set closing=1: closing must be True or False"),
    (["--set", "attn_self=1"], "--set attn_self=1: attn_self must be True or False"),
    (["--set", "prob_thd=0.2"], "--set prob_thd=0.2 hands pixels to class 0, which without --background is your "
                                "first class 'cat'"),
])
def test_settings_are_checked_before_anything_loads(tmp_path, capsys, args, needle):
    Image.fromarray(picture()).save(tmp_path / "photo.png")
    status = cli.main(["segment", str(tmp_path / "photo.png"), "--classes", "cat, dog", "--weights",
                       "/nowhere/clip.pt", *args])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and needle in error[0], error


def test_a_string_of_classes_is_refused():
    with pytest.raises(ValueError, match=r"classes='cat' is one string, not a list of classes; write e.g. "
                                         r"classes=\['cat'\]"):
        api.Segmenter.from_classes("cat")


# ------------------------------------------------------------------------------------ inputs people have

def test_deep_images_are_stretched_from_their_real_range_whichever_way_they_come(tmp_path):
    """A 12-bit scan in a 16-bit PNG and a float TIFF: path, PIL image, bytes, file and array agree."""
    from itaclip.render import to_rgb
    ramp = np.linspace(0, 4095, 40 * 50).round().astype(np.uint16).reshape(40, 50)  # 12-bit data: not black
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    expected = np.repeat(np.round(ramp / 4095 * 255).astype(np.uint8)[..., None], 3, axis=2)
    with open(tmp_path / "deep.png", "rb") as f:
        ways = [tmp_path / "deep.png", Image.open(tmp_path / "deep.png"), (tmp_path / "deep.png").read_bytes(), f, ramp]
        for way in ways:
            np.testing.assert_array_equal(to_rgb(way), expected)
    heat = np.linspace(-1.0, 3.0, 40 * 50, dtype=np.float32).reshape(40, 50)
    Image.fromarray(heat, mode="F").save(tmp_path / "heat.tif")
    got = to_rgb(tmp_path / "heat.tif")
    assert got.min() == 0 and got.max() == 255 and np.array_equal(got, to_rgb(heat))


def test_a_pil_image_is_turned_upright_like_a_path(tmp_path):
    from itaclip.render import to_rgb
    rgb = picture(30, 50)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    image.save(tmp_path / "turned.jpg", exif=exif, quality=100)
    by_path, by_pil = to_rgb(tmp_path / "turned.jpg"), to_rgb(Image.open(tmp_path / "turned.jpg"))
    assert by_path.shape == by_pil.shape == (50, 30, 3)
    assert np.abs(by_path.astype(int) - by_pil.astype(int)).max() <= 2  # two JPEG decoders


def test_other_objects_are_refused_with_a_line():
    from itaclip.render import to_rgb
    with pytest.raises(ValueError, match="cannot read an image from a dict; give a path, bytes"):
        to_rgb({"not": "an image"})


@pytest.mark.parametrize("args,env,needle", [
    (["--device", "gpu"], {}, "--device gpu: write cpu, cuda or cuda:N"),
    ([], {"ITACLIP_DEVICE": "tpu"}, "ITACLIP_DEVICE=tpu: write cpu, cuda or cuda:N"),
    (["--weights", "garbage"], {}, "--weights 'garbage' is neither a file nor a known spelling"),
    ([], {"ITACLIP_CLIP_WEIGHTS": "garbage"},
     "ITACLIP_CLIP_WEIGHTS (set in the environment) 'garbage' is neither a file nor a known spelling"),
])
def test_device_and_weights_errors_speak_the_commands_words(tmp_path, capsys, monkeypatch, args, env, needle):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Image.fromarray(picture()).save(tmp_path / "photo.png")
    status = cli.main(["segment", str(tmp_path / "photo.png"), "--classes", "cat, dog", *args])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and needle in error[0], error


def test_legend_font_draws_accented_names():
    """A wide-coverage TrueType font (the system's, or the DejaVu Sans matplotlib ships) draws é and ñ
    as letters, not as the box of a missing glyph."""
    from itaclip import render
    font = render._font(24)
    assert render.font_files() and isinstance(font, ImageFont.FreeTypeFont)
    missing = np.asarray(font.getmask("\ue000"))  # private use: no font has it, so this is the box
    for letter in "éñж":
        assert not np.array_equal(np.asarray(font.getmask(letter)), missing), letter


def test_an_unwritable_out_is_a_line_before_anything_loads(tmp_path, capsys):
    Image.fromarray(picture()).save(tmp_path / "photo.png")
    (tmp_path / "file.txt").write_text("a file, not a folder")
    status = cli.main(["segment", str(tmp_path / "photo.png"), "--classes", "cat", "--weights", "/nowhere/clip.pt",
                       "--out", str(tmp_path / "file.txt" / "out")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1
    assert f"--out {tmp_path / 'file.txt' / 'out'}: cannot write there" in error[0]


def test_a_comma_without_a_space_is_a_warning(tmp_path, capsys, tiny_checkpoint):
    (tmp_path / "classes.txt").write_text("cat,kitty\ndog\n")
    args = cli.build_parser().parse_args(["segment", "x", "--classes-file", str(tmp_path / "classes.txt")])
    assert cli.read_classes(args) == [["cat,kitty"], ["dog"]]
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [f"itaclip segment: warning: {tmp_path / 'classes.txt'}, line 1: 'cat,kitty' stays one name "
                       "(names are split on ', ', a comma and a space)"]


# ------------------------------------------------------------------------------------------ fast start

def test_settable_keys_are_the_settings_fields():
    """--set takes every Protocol and Compute field (but keep_probs, the command's own), the last block as a
    whole and ITACLIP's attn_self; nothing is listed twice or by hand."""
    from itaclip.settings import Compute, Protocol

    assert set(cli.SETTABLE) == (set(Protocol.keys()) | set(Compute.keys()) | {"last_block", "attn_self"}) - \
        {"keep_probs"}
    assert len(set(cli.SETTABLE)) == len(cli.SETTABLE)


def test_set_last_block_is_checked_whole(tmp_path, capsys):
    (tmp_path / "x.png").write_bytes(b"")
    for value, line in [("{'attention': 'qv'}", "attention='qv': attention must be the name of a registered"),
                        ("{'atention': 'qk'}", "last_block: 'atention' is not a LastBlock field"),
                        ("qk", "last_block must be a dict of LastBlock fields")]:
        assert cli.main(["segment", str(tmp_path / "x.png"), "--classes", "cat", "--set", f"last_block={value}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"itaclip segment: error: --set last_block={value}: {line}"), err
        assert err.count("\n") == 1


def test_the_command_starts_without_the_heavy_stack(tmp_path):
    """--help and usage errors load neither torch nor mmseg (a generous time bound guards regressions)."""
    import time

    code = ("import sys, itaclip.cli as c; c.main(sys.argv[1:]) if len(sys.argv) > 1 else None; "
            "print(sorted(m for m in ('torch', 'mmseg', 'open_clip', 'mmengine') if m in sys.modules))")
    for args in ([], ["segment", str(tmp_path / "none.jpg"), "--classes", "cat"],
                 ["segment", str(tmp_path), "--classes", "cat", "--set", "prob_thd=5"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert proc.stdout.strip().splitlines()[-1] == "[]", (args, proc.stdout, proc.stderr)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "itaclip.cli", "--help"], capture_output=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert time.perf_counter() - started < 5.0


def test_presets_and_eval_subcommands(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["voc21"] == ["PascalVOCDataset", "ITACLIPSegmentor", "paper:voc21_definitions.txt"]
    assert rows["sclip/voc21"] == ["PascalVOCDataset", "CLIPForSegmentation", "none"]
    with pytest.raises(SystemExit) as stop:
        cli.main(["eval", "--config", "cfg_voc21", "--help"])
    assert stop.value.code == 0 and "usage: itaclip eval" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        cli.main(["eval", "--config", "cfg_nope", "--data-root", "."])
    assert "itaclip eval: --config cfg_nope: no such file" in str(stop.value.code)


def test_presets_into_a_closed_pipe_is_quiet():
    """`itaclip presets | head -1`: the first line, exit 0, no traceback."""
    done = subprocess.run(f"'{sys.executable}' -c 'from itaclip import cli; raise SystemExit(cli.main([\"presets\"]))'"
                          " | head -1; exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, cwd=REPO)
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("preset ")
