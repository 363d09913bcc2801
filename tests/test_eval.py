"""eval.py end to end on a small VOC-layout data set written here (CPU, offline)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample
from PIL import Image

from itaclip import ITACLIPSegmentor

pytestmark = pytest.mark.slow  # each test runs eval.py in a subprocess or needs the voc fixture that does (~10 s)

REPO = Path(__file__).resolve().parents[1]
SIZES = [(120, 160), (150, 100), (97, 131)]
FAST = ["model.slide_stride=112", "model.pamr_steps=3"]  # fewer windows: same code, shorter test


def palette_png(path: Path, labels: np.ndarray) -> None:
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette([v for i in range(256) for v in (i * 37 % 256, i * 91 % 256, i * 53 % 256)])
    img.save(path)


def write_voc(root: Path, labels_of=None) -> list[str]:
    """JPEG images, palette PNG labels with 255 borders, ImageSets/Segmentation/val.txt."""
    rng = np.random.default_rng(0)
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(exist_ok=True)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    names = [f"2007_00000{i}" for i in range(len(SIZES))]
    for name, (h, w) in zip(names, SIZES):
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image[: h // 2] = (200, 120, 40)  # a flat region, so some predictions are stable
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), image)
        labels = rng.integers(0, 5, (h, w))
        labels[:3], labels[:, :3] = 255, 255
        palette_png(root / "SegmentationClass" / f"{name}.png", labels if labels_of is None else labels_of[name])
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(names) + "\n")
    return names


@pytest.fixture(scope="module")
def model_options(golden_dir, tiny_checkpoint):
    return [f"model.model_name={tiny_checkpoint}", f"model.name_path={golden_dir / 'voc_like.classes.txt'}",
            f"model.auxiliary_text_path={golden_dir / 'voc_like.aux.txt'}", "model.device=cpu",
            "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False", *FAST,
            # the golden file has 5 classes: evaluate VOC's first five (labels here are 0..4)
            "test_dataloader.dataset.metainfo.classes=[background,aeroplane,bicycle,bird,boat]"]


def run_eval(cwd: Path, data_root: Path, options, *extra, torchrun=False) -> dict:
    work = cwd / ("work_ddp" if torchrun else "work")
    shutil.rmtree(work, ignore_errors=True)
    cmd = [sys.executable, str(REPO / "eval.py")]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "eval.py"), "--launcher", "pytorch"]
    cmd += ["--config", "cfg_voc21", "--data-root", str(data_root), "--work-dir", str(work), *extra,
            "--cfg-options", *options]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "mIoU" in log and "aeroplane" in log  # the summary and the per-class table
    return json.loads((work / "metrics.json").read_text())["metrics"]


def predict_directly(golden_dir, tiny_checkpoint, root: Path, names) -> dict:
    """The same predictions without mmengine: file -> BGR -> rescale -> preprocessor -> predict.

    One thread, like the eval.py subprocesses: the tiny random CLIP's logits are
    nearly tied, so a different float summation order can flip labels.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _predict(golden_dir, tiny_checkpoint, root, names)
    finally:
        torch.set_num_threads(threads)


def _predict(golden_dir, tiny_checkpoint, root: Path, names) -> dict:
    model = ITACLIPSegmentor(model_name=str(tiny_checkpoint), name_path=str(golden_dir / "voc_like.classes.txt"),
                             auxiliary_text_path=str(golden_dir / "voc_like.aux.txt"), dataset_name="voc21",
                             device="cpu", logit_scale=60, prob_thd=0.1, area_thd=0.1, def_coefficient=0.05,
                             img_eng_coefficient=0.7, slide_stride=112, pamr_steps=3)
    preds = {}
    for name in names:
        bgr = mmcv.imread(str(root / "JPEGImages" / f"{name}.jpg"))
        small = mmcv.imrescale(bgr, (2048, 336))
        sample = SegDataSample(metainfo=dict(ori_shape=bgr.shape[:2], img_shape=small.shape[:2]))
        data = model.data_preprocessor(dict(inputs=[torch.from_numpy(small).permute(2, 0, 1)],
                                            data_samples=[sample]))
        preds[name] = model.predict(data["inputs"], data["data_samples"])[0].pred_sem_seg.data[0].numpy()
    return preds


def miou(preds: dict, root: Path, num_classes: int = 21) -> float:
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    for name, pred in preds.items():
        gt = np.array(Image.open(root / "SegmentationClass" / f"{name}.png"))
        valid = gt != 255
        for c in range(num_classes):
            p, g = (pred == c) & valid, (gt == c) & valid
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(inter / union) * 100)


@pytest.fixture(scope="module")
def voc(tmp_path_factory, golden_dir, tiny_checkpoint, model_options):
    root = tmp_path_factory.mktemp("voc")
    names = write_voc(root / "VOC2012")
    cwd = tmp_path_factory.mktemp("cwd")
    metrics = run_eval(cwd, root / "VOC2012", model_options, "--out", str(cwd / "preds"),
                       "--show-dir", str(cwd / "show"))
    preds = predict_directly(golden_dir, tiny_checkpoint, root / "VOC2012", names)
    return dict(root=root / "VOC2012", cwd=cwd, names=names, metrics=metrics, preds=preds)


def test_metrics_equal_an_independent_computation(voc):
    """eval.py's mIoU equals one computed here from predictions made without mmengine."""
    assert voc["metrics"]["mIoU"] == pytest.approx(round(miou(voc["preds"], voc["root"]), 2), abs=0.011)
    assert 0 < voc["metrics"]["mIoU"] < 100


def test_out_writes_the_label_maps(voc):
    """--out writes one PNG per image, equal to the predictions, atomically (no temporary file left)."""
    assert sorted(p.name for p in (voc["cwd"] / "preds").iterdir()) == sorted(f"{n}.png" for n in voc["names"])
    for name in voc["names"]:
        written = np.array(Image.open(voc["cwd"] / "preds" / f"{name}.png"))
        assert np.array_equal(written, voc["preds"][name])


def test_show_dir_saves_one_picture_per_image(voc):
    """--show-dir saves each image with its colour-coded labels and prediction."""
    pictures = sorted((voc["cwd"] / "show").rglob("*.png"))
    assert len(pictures) == len(voc["names"])
    assert all(name in " ".join(p.name for p in pictures) for name in voc["names"])


def test_own_predictions_as_labels_score_100(voc, model_options, tmp_path):
    """A data set labelled with the pipeline's own predictions scores 100 mIoU."""
    root = tmp_path / "VOC2012"
    write_voc(root, labels_of=voc["preds"])
    assert run_eval(tmp_path, root, model_options)["mIoU"] == 100.0


def test_torchrun_two_processes_gives_the_same_metrics(voc, model_options):
    """torchrun --nproc_per_node=2 ... --launcher pytorch on CPU (gloo) matches one process."""
    metrics = run_eval(voc["cwd"], voc["root"], model_options, torchrun=True)
    assert metrics == voc["metrics"]


def test_bad_config_and_data_root_are_one_line_errors(tmp_path, tiny_checkpoint):
    """A wrong --config, --data-root or text file exits with one line naming the option or file."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    missing_texts = tmp_path / "no_texts.txt"
    write_voc(tmp_path / "VOC2012")
    (tmp_path / "five.txt").write_text("background\ncat\ndog\ncar\nperson\n")
    weights = [f"model.model_name={tiny_checkpoint}", "model.device=cpu"]
    for args, needle in [(["--config", "cfg_nope"], "--config cfg_nope"),
                         (["--config", "cfg_voc21", "--data-root", str(tmp_path / "missing")], "--data-root"),
                         (["--config", "cfg_voc21", "--data-root", str(tmp_path / "VOC2012"), "--cfg-options",
                           *weights, f"model.auxiliary_text_path={missing_texts}"], str(missing_texts)),
                         (["--config", "cfg_voc21", "--data-root", str(tmp_path), "--cfg-options", *weights],
                          f"--data-root {tmp_path}: no split file ImageSets/Segmentation/val.txt in it"),
                         (["--config", "cfg_voc21", "--texts", "none", "--data-root", str(tmp_path / "VOC2012"),
                           "--cfg-options", *weights, f"model.name_path={tmp_path / 'five.txt'}"],
                          f"model.name_path {tmp_path / 'five.txt'} has 5 classes but the data set "
                          "PascalVOCDataset has 21")]:
        proc = subprocess.run([sys.executable, str(REPO / "eval.py"), *args], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_cpu_run_hides_the_gpu_before_anything_asks_for_it(tmp_path):
    """model.device=cpu: no CUDA device query happens before CUDA_VISIBLE_DEVICES is emptied.

    mmengine fixes its device when its runner is imported; a query before the
    GPU is hidden would send a CPU run to the GPU on a machine that has one.
    """
    code = f"""
import importlib.util, json, os, sys
import torch
real = torch._C._cuda_getDeviceCount
seen = []
torch._C._cuda_getDeviceCount = lambda: seen.append(os.environ.get("CUDA_VISIBLE_DEVICES")) or real()
spec = importlib.util.spec_from_file_location("eval_script", {str(REPO / "eval.py")!r})
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
cfg = script.build_config(script.parse_args(["--config", "cfg_voc21", "--data-root", {str(tmp_path)!r},
                                             "--cfg-options", "model.device=cpu"]))
import mmengine.runner  # what Runner.from_cfg needs: it asks CUDA now, after the GPU is hidden
print(json.dumps(dict(seen=seen, device=cfg.model.device, visible=os.environ.get("CUDA_VISIBLE_DEVICES"))))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["visible"] == ""
    assert all(v == "" for v in result["seen"]), result["seen"]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_label_names_its_file(tmp_path, tiny_checkpoint, workers):
    names = write_voc(tmp_path / "VOC2012")
    bad = tmp_path / "VOC2012" / "SegmentationClass" / f"{names[1]}.png"
    bad.write_bytes(b"not a png at all")
    proc = subprocess.run(
        [sys.executable, str(REPO / "eval.py"), "--config", "cfg_voc21", "--texts", "none", "--data-root",
         str(tmp_path / "VOC2012"), "--work-dir", str(tmp_path / "work"), "--cfg-options",
         f"model.model_name={tiny_checkpoint}", "model.device=cpu", *FAST, f"test_dataloader.num_workers={workers}",
         "test_dataloader.persistent_workers=False"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"eval.py: label file {bad} cannot be read"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_context459_layout_with_16bit_labels(tmp_path, golden_dir, tiny_checkpoint):
    """eval.py on a Context-459-layout set through configs/_base_/datasets/context459.py: uint16 .tif labels
    with ids above 255 and unlabelled 65535, five of the 459 classes picked by metainfo (the rest unlabelled).
    Its mIoU equals one computed here from the --out predictions, and would not with 8-bit labels or with
    the unlabelled pixels' predictions counted (ProxyCLIP's ignore_index=255)."""
    from mmseg.registry import DATASETS

    import itaclip.models  # noqa: F401  (registers the data sets)

    unlabelled = 65535
    root = tmp_path / "VOC2010"
    rng = np.random.default_rng(1)
    kept = [0, 255, 300, 458, 1]  # accordion, monkey (id 255), poker, wool, aeroplane
    names = [f"2008_00000{i}" for i in range(2)]
    raw = {}
    for name, (h, w) in zip(names, SIZES):
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image[: h // 2] = (200, 120, 40)
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), image)
        raw[name] = rng.choice(np.array([*kept, 44, 256], np.uint16), (h, w))  # 44 = 300 in 8 bits; 256 -> 0
        raw[name][:4] = unlabelled
        (root / "annotations_detectron2" / "pc459_val").mkdir(parents=True, exist_ok=True)
        Image.fromarray(raw[name]).save(root / "annotations_detectron2" / "pc459_val" / f"{name}.tif")
    (root / "ImageSets" / "SegmentationContext").mkdir(parents=True)
    (root / "ImageSets" / "SegmentationContext" / "val.txt").write_text("\n".join(names) + "\n")
    classes = [DATASETS.get("PascalContext459Dataset").METAINFO["classes"][i] for i in kept]
    config = tmp_path / "cfg_context459_five.py"
    config.write_text(f"_base_ = ['{REPO}/configs/_base_/datasets/context459.py', "
                      f"'{REPO}/configs/_base_/models/itaclip.py']\n"
                      f"model = dict(name_path='{golden_dir / 'voc_like.classes.txt'}', dataset_name='context459')\n"
                      f"test_dataloader = dict(dataset=dict(metainfo=dict(classes={classes!r})))\n")
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(REPO / "eval.py"), "--config", str(config), "--texts", "none", "--data-root", str(root),
         "--work-dir", str(work), "--out", str(tmp_path / "preds"), "--cfg-options",
         f"model.model_name={tiny_checkpoint}", "model.device=cpu", "test_dataloader.num_workers=0",
         "test_dataloader.persistent_workers=False", *FAST],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "monkey" in proc.stdout + proc.stderr  # the per-class table names the data set's classes
    got = json.loads((work / "metrics.json").read_text())["metrics"]["mIoU"]
    preds = {name: np.array(Image.open(tmp_path / "preds" / f"{name}.png")).astype(np.int64) for name in names}

    new_id = np.full(unlabelled + 1, unlabelled)  # raw id -> index among the five kept classes
    new_id[kept] = np.arange(len(kept))

    def score(labels_of, ignored: bool = True) -> float:
        inter, union = np.zeros(len(kept)), np.zeros(len(kept))
        for name, pred in preds.items():
            gt = new_id[labels_of(raw[name])]
            valid = gt != unlabelled if ignored else np.ones_like(gt, bool)
            for c in range(len(kept)):
                p, g = (pred == c) & valid, (gt == c) & valid
                inter[c] += (p & g).sum()
                union[c] += (p | g).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return round(float(np.nanmean(inter / union) * 100), 2)

    expected = score(lambda labels: labels)
    assert got == pytest.approx(expected, abs=0.011) and 0 < got < 100
    assert abs(score(lambda labels: labels.astype(np.uint8)) - expected) > 0.05  # what 8-bit labels would give
    assert abs(score(lambda labels: labels, ignored=False) - expected) > 0.05  # unlabelled pixels counted
