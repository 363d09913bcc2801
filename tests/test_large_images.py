"""Photos of any size: bounded memory, a one-line refusal before the work, --max-pixels, banded overlays."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from itaclip import api, budget, cli, render

REPO = Path(__file__).resolve().parents[1]
FAST = ["--set", "slide_stride=224", "--set", "pamr_steps=1"]


def photo(path: Path, height: int, width: int, seed: int = 0) -> Path:
    """A smooth random photo (JPEG encodes it small and fast)."""
    small = np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))
    return path


def test_banded_blend_equals_the_whole(monkeypatch):
    """The overlay is blended in bands of rows; the bands do not show."""
    rng = np.random.default_rng(1)
    result = render.Segmentation(labels=rng.integers(0, 4, (37, 41)).astype(np.uint8), probs=None,
                                 class_names=["background", "a", "b", "c"], classes=[["bg"], ["a"], ["b"], ["c"]],
                                 background=True)
    image = rng.integers(0, 255, (37, 41, 3), dtype=np.uint8)
    whole = result.blend(image, 0.4)
    monkeypatch.setattr(render, "BLEND_BAND_PIXELS", 100)  # two rows a band
    banded = result.blend(image, 0.4)
    np.testing.assert_array_equal(banded, whole)
    expected = np.clip(np.rint(0.6 * image.astype(np.float32) + 0.4 * result.colour_mask().astype(np.float32)),
                       0, 255).astype(np.uint8)
    expected[result.labels == 0] = image[result.labels == 0]
    np.testing.assert_array_equal(whole, expected)


def test_image_size_reads_only_the_header(tmp_path):
    path = photo(tmp_path / "p.jpg", 30, 50)
    assert render.image_size(path) == (30, 50)
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[render.EXIF_ORIENTATION] = 6
    Image.open(path).save(turned, exif=exif)
    assert render.image_size(turned) == (50, 30) == render.to_rgb(turned).shape[:2]
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    assert render.image_size(tmp_path / "bad.jpg") == (0, 0)


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return api.Segmenter.from_classes(["cat", "dog", "sofa"], background=["wall"], weights=str(tiny_checkpoint),
                                      device="cpu", slide_stride=224, pamr_steps=1)


def test_too_large_is_refused_in_one_line_before_the_work(segmenter, monkeypatch):
    monkeypatch.setattr(budget, "available_bytes", lambda device: 50 * 2**20)
    with pytest.raises(api.ImageTooLarge) as caught:
        segmenter.check_fits(3000, 4000)
    message = str(caught.value)
    assert "\n" not in message and "4000 x 3000 pixels need about" in message and "max_pixels=" in message
    fits = int(message.split("max_pixels=")[1].split()[0])
    segmenter.check_fits(*[int(v * (fits / 12e6) ** 0.5) for v in (3000, 4000)], probs=False)  # the advice fits
    with pytest.raises(api.ImageTooLarge):
        segmenter.segment(np.zeros((3000, 4000, 3), np.uint8))


def test_max_pixels_segments_at_a_working_size(segmenter):
    image = np.random.default_rng(2).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    result = segmenter.segment(image, max_pixels=2700)
    assert result.working_size == (45, 60) and result.labels.shape == (90, 120) and result.probs is None
    at_working_size = segmenter.segment(cv2.resize(image, (60, 45), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(result.labels, cv2.resize(at_working_size.labels, (120, 90),
                                                            interpolation=cv2.INTER_NEAREST))
    same = segmenter.segment(image, max_pixels=90 * 120)
    assert same.working_size is None and same.probs is not None
    assert same.labels.dtype == np.uint8


@pytest.mark.slow
def test_the_command_refuses_a_photo_too_large_and_goes_on(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    """One line naming --max-pixels for the large photo, the next photo segmented, exit 1; then
    --max-pixels takes it, at a working size the JSON records."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a_large.jpg", 1500, 2000)
    photo(folder / "b_small.jpg", 60, 80)
    monkeypatch.setattr(budget, "available_bytes", lambda device: 40 * 2**20)
    common = ["segment", str(folder), "--classes", "cat, dog", "--background", "wall", "--weights",
              str(tiny_checkpoint), "--device", "cpu", "--out", str(tmp_path / "out"), *FAST]
    assert cli.main(common) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "a_large" in line]
    assert len(errors) == 1 and "2000 x 1500 pixels need about" in errors[0] and "--max-pixels " in errors[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_small.json", "b_small_mask.png",
                                                                   "b_small_overlay.png", "manifest.jsonl"]
    fits = int(errors[0].split("--max-pixels ")[1].split()[0])
    assert cli.main(common + ["--max-pixels", str(fits)]) == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "out" / "a_large.json").read_text())
    assert record["settings"]["max_pixels"] == fits and (record["height"], record["width"]) == (1500, 2000)
    working = record["working_size"]
    assert working["height"] * working["width"] <= fits and "not the paper's protocol" in working["note"]
    assert Image.open(tmp_path / "out" / "a_large_mask.png").size == (2000, 1500)
    assert "working_size" not in json.loads((tmp_path / "out" / "b_small.json").read_text())


@pytest.mark.parametrize("text", ["0", "-5", "many", "1.5"])
def test_max_pixels_must_be_a_count(text, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["segment", "x.jpg", "--classes", "cat", "--max-pixels", text])
    assert done.value.code == 2 and "--max-pixels" in capsys.readouterr().err


RSS_BOUND_GB = 3.0  # untiled, these 12 megapixels x 171 classes would take about 27 GB


@pytest.mark.slow
def test_a_large_photo_with_171_classes_stays_within_a_bound(tmp_path, tiny_checkpoint):
    """12 MP, COCO-Stuff's 171 classes, tiny CLIP, a 512 MiB tile budget: the command's peak RSS stays
    under RSS_BOUND_GB (a regression guard; the README has the 48 MP figures)."""
    image = photo(tmp_path / "large.jpg", 3000, 4000)
    argv = ["segment", str(image), "--classes-file", str(REPO / "configs" / "cls_coco_stuff.txt"), "--preset",
            "coco_stuff164k", "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(tmp_path / "out"),
            "--set", "tile_budget_mb=512", *FAST]
    script = textwrap.dedent(f"""
        import resource
        from itaclip import cli
        status = cli.main({argv!r})
        print("peak", status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    status, peak = done.stdout.split("peak ")[-1].split()
    assert status == "0", done.stderr
    assert int(peak) < RSS_BOUND_GB * 1e9, f"peak RSS {int(peak) / 1e9:.2f} GB"
    mask = np.asarray(Image.open(tmp_path / "out" / "large_mask.png"))
    assert mask.shape == (3000, 4000) and len(np.unique(mask)) > 1
