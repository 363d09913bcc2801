"""The data sets mmseg lacks (COCO-Object, VOC without background) and the COCO-Object converter."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS
from PIL import Image

import itaclip.models  # noqa: F401  (registers the data sets)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "datasets" / "cvt_coco_object.py"
PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")]
UNUSED = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}


@pytest.fixture(scope="module")
def cvt():
    """The converter script, imported by path (``datasets/`` is a plain folder)."""
    spec = importlib.util.spec_from_file_location("cvt_coco_object", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_jpg(path: Path, h: int = 6, w: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 120, np.uint8))


def _write_png(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(path)


def _build(cfg: dict):
    """Build a data set as eval.py's runner would: transforms are looked up in mmseg's scope."""
    with DefaultScope.overwrite_default_scope("mmseg"):
        return DATASETS.build(cfg)


def _gt(sample: dict) -> np.ndarray:
    return sample["data_samples"].gt_sem_seg.data.squeeze(0).numpy()


@pytest.mark.parametrize("name,n,first,last", [
    ("COCOObjectDataset", 81, "background", "toothbrush"),
    ("PascalVOC20Dataset", 20, "aeroplane", "tvmonitor"),
])
def test_registered_with_classes(name: str, n: int, first: str, last: str) -> None:
    cls = DATASETS.get(name)
    assert cls is not None
    classes, palette = cls.METAINFO["classes"], cls.METAINFO["palette"]
    assert (len(classes), classes[0], classes[-1]) == (n, first, last)
    assert len(palette) == n and len({tuple(c) for c in palette}) == n
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette)


def test_coco_object_class_order() -> None:
    classes = DATASETS.get("COCOObjectDataset").METAINFO["classes"]
    assert classes[1:4] == ("person", "bicycle", "car") and classes[62] == "toilet"


def test_voc20_palette_is_voc_minus_background() -> None:
    from mmseg.datasets import PascalVOCDataset
    voc, voc20 = PascalVOCDataset.METAINFO, DATASETS.get("PascalVOC20Dataset").METAINFO
    assert tuple(voc20["classes"]) == tuple(voc["classes"][1:])
    assert [list(c) for c in voc20["palette"]] == [list(c) for c in voc["palette"][1:]]


def test_voc20_reduces_zero_label(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2, 20], [255, 15, 0, 7]], np.uint8).repeat(3, 0).repeat(2, 1)
    for stem in ("a", "b"):
        _write_jpg(tmp_path / "JPEGImages" / f"{stem}.jpg")
        _write_png(tmp_path / "SegmentationClass" / f"{stem}.png", labels)
    split = tmp_path / "ImageSets" / "Segmentation" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("a\nb\n")

    ds = _build(dict(type="PascalVOC20Dataset", data_root=str(tmp_path), ann_file="ImageSets/Segmentation/val.txt",
                             data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClass"),
                             pipeline=PIPELINE, test_mode=True))
    assert len(ds) == 2 and ds.metainfo["reduce_zero_label"] is True
    expected = np.where((labels == 0) | (labels == 255), 255, labels.astype(int) - 1)
    for i in range(2):
        sample = ds[i]
        assert sample["inputs"].shape == (3, 6, 8)
        np.testing.assert_array_equal(_gt(sample), expected)


def test_voc20_needs_split_file(tmp_path: Path) -> None:
    _write_jpg(tmp_path / "JPEGImages" / "a.jpg")
    with pytest.raises(FileNotFoundError, match="split file"):
        _build(dict(type="PascalVOC20Dataset", data_root=str(tmp_path), ann_file="missing.txt",
                            data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClass")))


def test_coco_object_keeps_labels(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 5, 80], [40, 0, 80, 3]], np.uint8).repeat(3, 0).repeat(2, 1)
    for stem in ("000000000002", "000000000001"):
        _write_jpg(tmp_path / "images" / "val2017" / f"{stem}.jpg")
        _write_png(tmp_path / "annotations" / "val2017" / f"{stem}_instanceTrainIds.png", labels)
    # a COCO-Stuff label beside it must not be picked up
    _write_png(tmp_path / "annotations" / "val2017" / "000000000001_labelTrainIds.png", labels + 7)

    ds = _build(dict(type="COCOObjectDataset", data_root=str(tmp_path),
                             data_prefix=dict(img_path="images/val2017", seg_map_path="annotations/val2017"),
                             pipeline=PIPELINE, test_mode=True))
    assert len(ds) == 2 and ds.metainfo["reduce_zero_label"] is False
    assert ds[0]["data_samples"].img_path.endswith("000000000001.jpg")
    for i in range(2):
        np.testing.assert_array_equal(_gt(ds[i]), labels)


def _raw_every_value() -> np.ndarray:
    """A raw COCO-Stuff label map holding every value 0..181 and 255."""
    return np.array(list(range(182)) + [255], np.uint8).reshape(1, -1).repeat(2, 0)


def _expected_object_ids(raw: np.ndarray) -> np.ndarray:
    """Independent statement of the rule: the k-th kept raw id (0..90 minus the unused) becomes k."""
    kept = [i for i in range(91) if i not in UNUSED]
    assert len(kept) == 80
    new_id = {raw_id: k for k, raw_id in enumerate(kept, start=1)}
    return np.vectorize(lambda v: new_id.get(int(v), 0))(raw).astype(np.uint8)


def test_convert_labels_rule(cvt) -> None:
    raw = _raw_every_value()
    out = cvt.convert_labels(raw)
    assert out.dtype == np.uint8 and out.shape == raw.shape
    np.testing.assert_array_equal(out, _expected_object_ids(raw))
    assert out.max() == 80 and sorted(set(out.ravel().tolist())) == list(range(81))
    np.testing.assert_array_equal(cvt.convert_labels(raw.astype(np.int64)), out)
    with pytest.raises(ValueError):
        cvt.convert_labels(np.array([256]))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_converter_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "annotations" / "val2017"
    raw = _raw_every_value()
    stems = ["000000000139", "000000000285", "000000000632"]
    for k, stem in enumerate(stems):
        _write_png(folder / f"{stem}.png", np.roll(raw, k, axis=1))
    _write_png(folder / "000000000139_labelTrainIds.png", raw[:, :5])  # must be ignored

    first = _run(str(tmp_path), "--nproc", "2")
    assert first.returncode == 0, first.stderr
    assert "converted 3" in first.stdout
    outs = sorted(folder.glob("*_instanceTrainIds.png"))
    assert [p.name for p in outs] == [f"{s}_instanceTrainIds.png" for s in stems]
    assert not list(folder.glob("*.tmp"))

    import mmcv
    for k, path in enumerate(outs):
        with Image.open(path) as img:
            assert img.mode == "L"
        expected = _expected_object_ids(np.roll(raw, k, axis=1))
        for backend in ("pillow", "cv2"):  # as mmseg's LoadAnnotations reads it
            got = mmcv.imfrombytes(path.read_bytes(), flag="unchanged", backend=backend)
            assert got.dtype == np.uint8 and got.ndim == 2
            np.testing.assert_array_equal(got, expected)

    mtimes = [p.stat().st_mtime_ns for p in outs]
    again = _run(str(tmp_path), "--nproc", "2")
    assert again.returncode == 0, again.stderr
    assert "converted 0" in again.stdout and "skipped 3" in again.stdout
    assert [p.stat().st_mtime_ns for p in outs] == mtimes

    forced = _run(str(tmp_path), "--nproc", "2", "--force")
    assert forced.returncode == 0 and "converted 3" in forced.stdout


def test_converter_out_dir(tmp_path: Path) -> None:
    _write_png(tmp_path / "annotations" / "val2017" / "x.png", _raw_every_value())
    out_dir = tmp_path / "out"
    result = _run(str(tmp_path), "--out-dir", str(out_dir), "--nproc", "1")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out_dir.iterdir()] == ["x_instanceTrainIds.png"]


def test_converter_empty_folder_errors(tmp_path: Path) -> None:
    folder = tmp_path / "annotations" / "val2017"
    folder.mkdir(parents=True)
    result = _run(str(tmp_path))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and str(folder) in message


def test_converter_rejects_colour_png(tmp_path: Path) -> None:
    folder = tmp_path / "annotations" / "val2017"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(folder / "rgb.png")
    result = _run(str(tmp_path), "--nproc", "1")
    assert result.returncode != 0 and "rgb.png" in result.stderr and "Traceback" not in result.stderr
    assert not list(folder.glob("*_instanceTrainIds.png")) and not list(folder.glob("*.tmp"))
