"""The data sets mmseg lacks (COCO-Object, VOC without background, Pascal Context-459 and ADE20K-847 with their
16-bit labels) and the COCO-Object converter."""
from __future__ import annotations

import importlib.util
import os
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


# ------------------------------------------------------------- the 16-bit data sets: Context-459, ADE20K-847

CONFIGS = REPO / "configs"
UNLABELLED = 65535
# ProxyCLIP's class files, byte-exact (SHA-256 of /work/shared/spec/baselines/proxyclip.md section 10)
PROXYCLIP_CLASS_FILES = {
    "cls_context459.txt": ("883209fb0be7f54a6e0e8a530e6cfdf0400a5dafa509809c8141bd78b3ce759f", 459),
    "cls_ade20k847.txt": ("5d6612d2a2f9778fc7270baf0db7bc800b054d1aa1f107e323197e8c54e33e26", 847),
}
# data set, its base config, the class file, the layout: images, labels, split file
LAYOUTS = {
    "PascalContext459Dataset": ("context459.py", "cls_context459.txt", "JPEGImages", "annotations_detectron2/pc459_val",
                                "ImageSets/SegmentationContext/val.txt"),
    "ADE20K847Dataset": ("ade847.py", "cls_ade20k847.txt", "images_detectron2/validation",
                         "annotations_detectron2/validation", "validation.txt"),
}


def _write_tif(path: Path, labels: np.ndarray, writer: str) -> None:
    """A uint16 label map as detectron2's converters write it (PIL), or through OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if writer == "pil":
        Image.fromarray(labels.astype(np.uint16)).save(path)
    else:
        assert cv2.imwrite(str(path), labels.astype(np.uint16))


def _labels16(top: int, seed: int, h: int = 6, w: int = 8) -> np.ndarray:
    """A label map holding ids above 255 (300 and the last class), 255 and 0, and unlabelled pixels."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array([0, 1, 255, 256, 300, top], np.uint16), (h, w))
    labels[0, :3] = UNLABELLED
    labels[1, 0], labels[1, 1], labels[1, 2] = 255, 300, top  # each id at least once
    return labels


def _write_layout(root: Path, dataset: str, stems: list[str], top: int) -> dict[str, np.ndarray]:
    """A tiny data set in the layout of ``dataset``'s base config: .jpg images, uint16 .tif labels, split file."""
    _, _, images, labels, split = LAYOUTS[dataset]
    written = {}
    for k, stem in enumerate(stems):
        written[stem] = _labels16(top, seed=k)
        _write_jpg(root / images / f"{stem}.jpg")
        _write_tif(root / labels / f"{stem}.tif", written[stem], "pil" if k % 2 == 0 else "cv2")
    (root / split).parent.mkdir(parents=True, exist_ok=True)
    (root / split).write_text("".join(f"{stem}\n" for stem in stems))
    return written


def _base_dataset(dataset: str, root: Path, **changes) -> dict:
    """``test_dataloader.dataset`` of the data set's base config, pointed at ``root``."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(CONFIGS / "_base_" / "datasets" / LAYOUTS[dataset][0]), import_custom_modules=False)
    return dict(cfg.test_dataloader.dataset.to_dict(), data_root=str(root), test_mode=True, **changes)


@pytest.mark.parametrize("file", sorted(PROXYCLIP_CLASS_FILES))
def test_proxyclip_class_files_are_the_authors(file: str) -> None:
    """configs/proxyclip/ holds ProxyCLIP's files byte-exact: CRLF lines (Context-459), no final line end."""
    import hashlib
    digest, lines = PROXYCLIP_CLASS_FILES[file]
    data = (CONFIGS / "proxyclip" / file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    assert len(data.decode().splitlines()) == lines and not data.endswith(b"\n")


@pytest.mark.parametrize("dataset", sorted(LAYOUTS))
def test_16bit_data_sets_carry_the_authors_class_names(dataset: str) -> None:
    """METAINFO classes: the first name of each line of ProxyCLIP's class file (for these two files the
    whole line: no line has a '; '); read from package data, so they are there without configs/."""
    from itaclip import datasets

    cls = DATASETS.get(dataset)
    lines = (CONFIGS / "proxyclip" / LAYOUTS[dataset][1]).read_text().splitlines()
    classes, palette = cls.METAINFO["classes"], cls.METAINFO["palette"]
    assert list(classes) == [line.split("; ")[0] for line in lines] == lines
    assert len(set(classes)) == len(classes) and len(palette) == len(classes)
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette)
    assert Path(datasets.__file__).parent.joinpath("data").is_dir()
    if dataset == "ADE20K847Dataset":
        assert classes[1] == "building, edifice"  # one class, its comma kept


@pytest.mark.parametrize("dataset,top", [("PascalContext459Dataset", 458), ("ADE20K847Dataset", 846)])
def test_16bit_data_sets_keep_the_label_ids(tmp_path: Path, dataset: str, top: int) -> None:
    """Built from the base config, as eval.py builds it: ids above 255 and 65535 reach gt_sem_seg unchanged,
    whichever writer made the .tif (PIL as detectron2's scripts, or OpenCV) and whichever decoder reads it."""
    stems = ["b_0002", "a_0001", "c_0003"]
    written = _write_layout(tmp_path, dataset, stems, top)
    cfg = _base_dataset(dataset, tmp_path)
    assert [step["type"] for step in cfg["pipeline"]] == ["LoadImageFromFile", "Resize", "LoadAnnotations16",
                                                           "PackSegInputs"]
    assert cfg["pipeline"][1]["scale"] == (2048, 448)
    for backend in ("pillow", "cv2"):
        cfg["pipeline"][2] = dict(type="LoadAnnotations16", imdecode_backend=backend)
        ds = _build(cfg)
        assert len(ds) == 3 and ds.metainfo["reduce_zero_label"] is False and ds.metainfo["label_map"] is None
        for i, stem in enumerate(stems):  # the split file's order
            sample = ds[i]
            assert sample["data_samples"].img_path.endswith(f"{stem}.jpg")
            assert sample["inputs"].shape == (3, 448, 597)  # short side 448
            gt = _gt(sample)
            np.testing.assert_array_equal(gt, written[stem])
            assert {255, 300, top, UNLABELLED} <= set(gt.ravel().tolist())


def test_eval_keeps_the_16bit_loader(tmp_path: Path, monkeypatch) -> None:
    """eval.py turns LoadAnnotations into LoadCheckedAnnotations, but leaves LoadAnnotations16 (8 bits would
    wrap the ids) and the evaluator's ignore index 65535 as the data set's base config sets them."""
    from itaclip import evaluate

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))  # restored after
    config = tmp_path / "cfg_context459_test.py"
    config.write_text(f"_base_ = ['{CONFIGS}/_base_/datasets/context459.py', '{CONFIGS}/_base_/models/itaclip.py']\n"
                      f"model = dict(name_path='{CONFIGS}/proxyclip/cls_context459.txt')\n")
    cfg = evaluate.build_config(evaluate.parse_args(["--config", str(config), "--data-root", str(tmp_path),
                                                     "--cfg-options", "model.device=cpu"]))
    assert [step["type"] for step in cfg.test_dataloader.dataset.pipeline] == [
        "LoadImageFromFile", "Resize", "LoadAnnotations16", "PackSegInputs"]
    assert cfg.test_evaluator.ignore_index == UNLABELLED and cfg.test_evaluator.type == "IoUMetric16"


def test_a_metainfo_subset_leaves_out_the_other_classes_as_unlabelled(tmp_path: Path) -> None:
    """metainfo=dict(classes=[...]) picks classes in its order, as in mmseg; the others become 65535, not
    mmseg's 255 (a class here), and the palette follows the kept classes."""
    written = _write_layout(tmp_path, "PascalContext459Dataset", ["x"], 458)["x"]
    names = DATASETS.get("PascalContext459Dataset").METAINFO
    kept = [300, 255, 0]
    ds = _build(_base_dataset("PascalContext459Dataset", tmp_path,
                              metainfo=dict(classes=[names["classes"][i] for i in kept])))
    assert ds.metainfo["palette"] == [names["palette"][i] for i in kept]
    new_id = {old: new for new, old in enumerate(kept)}
    expected = np.vectorize(lambda v: new_id.get(int(v), UNLABELLED))(written)
    np.testing.assert_array_equal(_gt(ds[0]), expected)
    assert {0, 1, 2, UNLABELLED} == set(expected.ravel().tolist())
    with pytest.raises(ValueError, match="not classes of PascalContext459Dataset"):
        _build(_base_dataset("PascalContext459Dataset", tmp_path, metainfo=dict(classes=["accordion", "no such"])))


def test_16bit_loader_reduce_zero_label(tmp_path: Path) -> None:
    """With reduce_zero_label, 0 becomes unlabelled (65535) and the other ids move down by one."""
    from itaclip.datasets import LoadAnnotations16

    labels = np.array([[0, 1, 255, 256], [300, 846, UNLABELLED, 2]], np.uint16)
    _write_tif(tmp_path / "a.tif", labels, "pil")
    results = LoadAnnotations16()(dict(seg_map_path=str(tmp_path / "a.tif"), reduce_zero_label=True, seg_fields=[]))
    expected = np.array([[UNLABELLED, 0, 254, 255], [299, 845, UNLABELLED, 1]], np.uint16)
    assert results["gt_seg_map"].dtype == np.uint16
    np.testing.assert_array_equal(results["gt_seg_map"], expected)


@pytest.mark.parametrize("content,why", [(b"not a tif at all", "cannot identify image file"),
                                         (None, "No such file"), ("rgb", "not a one-channel label map")])
def test_16bit_loader_names_a_bad_label_file(tmp_path: Path, content, why: str) -> None:
    from itaclip.datasets import LabelFileError, LoadAnnotations16

    path = tmp_path / "bad.tif"
    if content == "rgb":
        assert cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint16))
    elif content is not None:
        path.write_bytes(content)
    for backend in ("pillow", "cv2"):
        with pytest.raises(LabelFileError) as err:
            LoadAnnotations16(imdecode_backend=backend)(dict(seg_map_path=str(path), reduce_zero_label=False,
                                                             seg_fields=[]))
        message = str(err.value)
        assert len(message.splitlines()) == 1 and message.startswith(f"label file {path} cannot be read")
        if backend == "pillow" or content != b"not a tif at all":
            assert why in message
        else:
            assert "cannot be decoded" in message


def test_iou_metric_of_the_16bit_configs_scores_class_255_and_ignores_65535() -> None:
    """The base configs' evaluator: class 255 is a class like any other, 300 stays 300 (also when the prediction
    is uint8, as ITACLIP's closing step makes it when an image's labels are all below 256), and predictions on
    unlabelled (65535) pixels count nowhere. (ProxyCLIP's ignore_index=255 drops class 255 and counts them.)"""
    import torch
    from mmengine.config import Config
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import METRICS

    gt = torch.tensor([[255, 255, UNLABELLED, UNLABELLED], [300, 300, 3, 3]])
    pred = torch.tensor([[255, 3, 3, 3], [3, 3, 3, 3]], dtype=torch.uint8)
    classes = DATASETS.get("PascalContext459Dataset").METAINFO["classes"]

    def scores(metric) -> tuple:
        metric.dataset_meta = dict(classes=classes)
        metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=gt[None]))])
        inter, union, _, area_label = metric.results[0]
        return [(inter[c], union[c], area_label[c]) for c in (255, 300, 3)], metric.compute_metrics(metric.results)

    for base in ("context459.py", "ade847.py"):
        cfg = Config.fromfile(str(CONFIGS / "_base_" / "datasets" / base), import_custom_modules=False)
        with DefaultScope.overwrite_default_scope("mmseg"):
            metric = METRICS.build(cfg.test_evaluator)
        areas, metrics = scores(metric)
        # class 255: 1 of its 2 pixels; 300: missed; 3: 2 pixels and 5 predicted (the 2 unlabelled ones not counted)
        assert areas == [(1, 2, 2), (0, 2, 2), (2, 5, 2)]
        assert metrics["mIoU"] == pytest.approx((1 / 2 + 0 + 2 / 5) / 3 * 100)
    # what IoUMetric16 is for: mmseg's casts the labels to the uint8 prediction's dtype (300 -> 44, 65535 -> 255)
    assert scores(IoUMetric(ignore_index=UNLABELLED))[0] != areas


@pytest.mark.parametrize("classes, dtype", [(459, np.uint16), (21, np.uint8)])
def test_out_writes_16_bit_label_maps_for_more_than_256_classes(tmp_path, classes, dtype):
    """eval.py --out: a data set of 459 classes gets 16-bit PNGs (ids above 255 intact), VOC 8-bit ones."""
    from types import SimpleNamespace

    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from itaclip.hooks import SavePredictionsHook

    runner = SimpleNamespace(test_dataloader=SimpleNamespace(dataset=SimpleNamespace(
        metainfo=dict(classes=[f"c{i}" for i in range(classes)]))))
    labels = torch.tensor([[[0, 20], [classes - 1, 7]]])
    sample = SegDataSample(metainfo=dict(img_path=str(tmp_path / "x.jpg")))
    sample.pred_sem_seg = PixelData(data=labels)
    SavePredictionsHook(str(tmp_path / "out")).after_test_iter(runner, 0, outputs=[sample])
    written = np.array(Image.open(tmp_path / "out" / "x.png"))
    assert written.dtype == dtype and written.tolist() == labels[0].tolist()
