"""Labelling a collection with ``itaclip segment``: inputs and names, shares across processes (torchrun), the
manifest and resuming, the COCO, Label Studio and GeoTIFF formats, and ``Segmentation.to_detections``."""
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from itaclip import cli, collection, formats
from itaclip.collection import Item, Launch

REPO = Path(__file__).resolve().parents[1]
FAST = ["--set", "slide_stride=112", "--set", "pamr_steps=0"]
FORMATS = ["--format", "png,coco,labelstudio", "--ls-url-prefix", "/data/local-files/?d="]


def picture(path: Path, seed: int, size=(60, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    rgb[: size[0] // 3] = (30 * seed % 255, 120, 200)
    Image.fromarray(rgb).save(path)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Seven images in nested folders (two named x.jpg, two y in one folder), one of them unreadable."""
    root = tmp_path_factory.mktemp("tree") / "photos"
    for seed, name in enumerate(["a/x.jpg", "b/x.jpg", "a/deep/y.jpg", "a/deep/y.png", "top.png", "b/c/z.jpg"]):
        picture(root / name, seed)
    (root / "b" / "broken.jpg").write_bytes(b"not an image")
    return root


def segment(*args: str, tiny: Path) -> int:
    return cli.main(["segment", *args, "--classes", "cat, dog", "--background", "wall, sky",
                     "--weights", str(tiny), "--device", "cpu", *FAST])


def results(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (manifest included), by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# --- inputs and names ----------------------------------------------------------------------------------------

def test_recursive_names_keep_the_sub_path(tree, tmp_path):
    items = collection.collect([str(tree)], recursive=True)
    assert [item.stem for item in items] == ["top", "a/x", "a/deep/y_jpg", "a/deep/y_png", "b/broken", "b/x", "b/c/z"]
    assert [item.index for item in items] == list(range(7))
    assert collection.collect([str(tree)], recursive=True) == items  # deterministic
    assert [item.stem for item in collection.collect([str(tree)])] == ["top"]  # one level without --recursive
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(collection.InputError, match="add --recursive to look in subfolders"):
        collection.collect([str(tmp_path / "empty")])


def test_two_folders_named_in_front(tree):
    stems = [item.stem for item in collection.collect([str(tree / "a"), str(tree / "b")], recursive=True)]
    assert "a/x" in stems and "b/x" in stems and len(set(stems)) == len(stems)


def test_an_input_list_from_a_file_and_from_stdin(tree, tmp_path, monkeypatch):
    lines = ["photos/a/x.jpg", "photos/b/x.jpg", "", str(tree / "top.png")]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    items = list(collection.find_inputs(input_list=str(listing), start=3))
    absolute = "/".join(part for part in Path(str(tree / "top")).parts[1:])
    assert [(item.index, item.stem) for item in items] == [(3, "photos/a/x"), (4, "photos/b/x"), (5, absolute)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines)))
    assert list(collection.find_inputs(input_list="-", start=3)) == items


def test_the_command_reads_its_list_from_stdin(tree, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tree.parent)
    monkeypatch.setattr(sys, "stdin", io.StringIO("photos/a/x.jpg\nphotos/b/x.jpg\nphotos/missing.jpg\n"))
    out = tmp_path / "out"
    assert segment("--input-list", "-", "--out", str(out), tiny=tiny_checkpoint) == 1  # one path is missing
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [
        ("photos/a/x.jpg", "ok"), ("photos/b/x.jpg", "ok"), ("photos/missing.jpg", "failed")]
    assert (out / "photos" / "a" / "x_mask.png").is_file() and (out / "photos" / "b" / "x_mask.png").is_file()


def test_shares_are_disjoint_and_cover_everything():
    items = [Item(i, Path(f"{i}.jpg"), f"folder/{i}") for i in range(200)]
    shares = [list(collection.mine(items, Launch(rank, 3))) for rank in range(3)]
    assert sorted(i.index for share in shares for i in share) == list(range(200))
    assert all(40 < len(share) < 90 for share in shares)  # roughly even
    assert collection.owner("a/x", 3) == collection.owner("a/x", 3)


def test_launch_from_the_environment():
    assert Launch.of(None, {}) == Launch()
    assert Launch.of(None, dict(RANK="1", WORLD_SIZE="4", LOCAL_RANK="1")) == Launch(1, 4, 1, "pytorch")
    assert Launch.of("slurm", dict(SLURM_PROCID="5", SLURM_NTASKS="8", SLURM_LOCALID="1")) == Launch(5, 8, 1, "slurm")
    with pytest.raises(collection.InputError, match="--launcher slurm: SLURM_PROCID is not set; start the command "
                                                    "with srun"):
        Launch.of("slurm", {})


def test_reading_ahead_keeps_the_order_and_hands_errors_back():
    def load(item):
        if item.index == 3:
            raise OSError("gone")
        time.sleep(0.01 * (item.index % 3))
        return item.index * 10

    items = [Item(i, Path(f"{i}"), str(i)) for i in range(9)]
    for workers in (0, 3):
        got = list(collection.ahead(items, load, workers))
        assert [item.index for item, _ in got] == list(range(9))
        assert isinstance(got[3][1], OSError) and [v for _, v in got if not isinstance(v, Exception)] == \
            [i * 10 for i in range(9) if i != 3]


# --- one process: the manifest, resuming, the formats ---------------------------------------------------------

@pytest.fixture(scope="module")
def labelled(tree, tiny_checkpoint, tmp_path_factory):
    """One process over the tree, every format but GeoTIFF."""
    out = tmp_path_factory.mktemp("labelled") / "out"
    status = segment(str(tree), "--recursive", "--out", str(out), *FORMATS, tiny=tiny_checkpoint)
    return dict(out=out, status=status, files=results(out))


def test_the_manifest_has_a_line_per_input(labelled):
    assert labelled["status"] == 1  # one unreadable image
    lines = [json.loads(line) for line in (labelled["out"] / "manifest.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(7))
    assert sorted(line["status"] for line in lines) == ["failed"] + ["ok"] * 6
    failed = next(line for line in lines if line["status"] == "failed")
    assert failed["path"].endswith("broken.jpg") and failed["reason"].startswith("cannot read image")
    ok = next(line for line in lines if line["path"].endswith("a/x.jpg"))
    assert ok["outputs"] == ["a/x.json", "a/x_mask.png", "a/x_overlay.png"] and (ok["width"], ok["height"]) == (80, 60)
    assert not (labelled["out"] / collection.PARTS).exists()


def test_coco_annotations_decode_to_the_mask(labelled):
    from pycocotools import mask as coco_mask
    from pycocotools.coco import COCO

    out = labelled["out"]
    coco = COCO(str(out / formats.COCO_FILE))
    data = json.loads((out / formats.COCO_FILE).read_text())
    assert [c["name"] for c in data["categories"]] == ["background", "cat", "dog"]
    assert len(data["images"]) == 6
    for image in data["images"]:
        stem = next(json.loads(line)["outputs"][0][:-5] for line in (out / "manifest.jsonl").read_text().splitlines()
                    if json.loads(line)["index"] == image["id"] - 1)
        labels = np.array(Image.open(out / f"{stem}_mask.png"))
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert sorted(a["category_id"] - 1 for a in annotations) == sorted(np.unique(labels).tolist())
        for annotation in annotations:
            pixels = coco_mask.decode(annotation["segmentation"]).astype(bool)
            assert np.array_equal(pixels, labels == annotation["category_id"] - 1)
            assert annotation["area"] == pixels.sum()


def test_label_studio_tasks_decode_to_the_mask(labelled):
    from label_studio_sdk.converter.brush import decode_rle

    out = labelled["out"]
    tasks = json.loads((out / formats.TASKS_FILE).read_text())
    assert isinstance(tasks, list) and len(tasks) == 6
    config = (out / formats.CONFIG_FILE).read_text()
    assert '<BrushLabels name="brush" toName="image">' in config and '<Label value="cat"' in config
    manifest = {line["index"]: line for line in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    for task in tasks:
        line = manifest[task["id"] - 1]
        assert task["data"]["image"].startswith("/data/local-files/?d=")
        assert task["data"]["image"].endswith(Path(line["path"]).name)
        labels = np.array(Image.open(out / line["outputs"][1]))
        results_ = task["predictions"][0]["result"]
        assert {r["value"]["brushlabels"][0] for r in results_} == \
            {["background", "cat", "dog"][i] for i in np.unique(labels)}
        for result in results_:
            assert (result["from_name"], result["to_name"], result["type"]) == ("brush", "image", "brushlabels")
            index = ["background", "cat", "dog"].index(result["value"]["brushlabels"][0])
            decoded = decode_rle(result["value"]["rle"]).reshape(result["original_height"], result["original_width"], 4)
            assert np.array_equal(decoded[..., 3] == 255, labels == index)


def test_a_rerun_skips_what_is_there_and_retry_failed_only_the_failures(tree, labelled, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    import shutil

    shutil.copytree(labelled["out"], out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*_mask.png")}
    assert segment(str(tree), "--recursive", "--out", str(out), "--format", "png,coco,labelstudio",
                   "--skip-existing", tiny=tiny_checkpoint) == 1
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["failed"] + ["skipped"] * 6
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_mask.png")} == stamps  # nothing written again
    assert json.loads((out / formats.COCO_FILE).read_text()) == json.loads(labelled["files"][formats.COCO_FILE])
    (tree / "b" / "broken.jpg").write_bytes(b"")  # still unreadable: retried, failed again
    assert segment(str(tree), "--recursive", "--out", str(out), "--retry-failed", tiny=tiny_checkpoint) == 1
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["failed"] + ["skipped"] * 6


def test_geotiff_keeps_the_georeferencing(tmp_path, tiny_checkpoint, capsys):
    import rasterio
    from rasterio.transform import from_origin

    geo = tmp_path / "in" / "field.tif"
    geo.parent.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (3, 48, 64), dtype=np.uint8)
    transform = from_origin(500000.0, 4200000.0, 10.0, 10.0)
    with rasterio.open(geo, "w", driver="GTiff", width=64, height=48, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=transform) as sink:
        sink.write(pixels)
    picture(tmp_path / "in" / "plain.png", 3)
    out = tmp_path / "out"
    assert segment(str(tmp_path / "in"), "--out", str(out), "--format", "geotiff", tiny=tiny_checkpoint) == 0
    assert "plain.png: not a georeferenced raster; its mask is a PNG" in capsys.readouterr().err
    with rasterio.open(out / "field_mask.tif") as mask:
        assert (mask.crs.to_epsg(), mask.transform, mask.width, mask.height, mask.count) == \
            (32633, transform, 64, 48, 1)
        assert mask.colormap(1)[0][:3] == (0, 0, 0) or len(mask.colormap(1)) >= 3
        labels = mask.read(1)
    summary = json.loads((out / "field.json").read_text())
    assert sorted(summary["present"]) == sorted(summary["classes"][i]["name"] for i in np.unique(labels))
    assert (out / "plain_mask.png").is_file() and not (out / "plain_overlay.png").exists()


def test_to_detections_covers_the_labels_once(tiny_checkpoint):
    from itaclip import api

    segmenter = api.Segmenter.from_classes(["cat", "dog"], background=["wall", "sky"], weights=str(tiny_checkpoint),
                                           device="cpu", slide_stride=112, pamr_steps=0)
    rgb = np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    result = segmenter.segment(rgb)
    detections = result.to_detections()
    assert len(detections) == len(result.present())
    assert np.array_equal(detections.mask.sum(0), np.ones_like(result.labels))  # every pixel exactly once
    for mask, class_id, name, box in zip(detections.mask, detections.class_id, detections.data["class_name"],
                                         detections.xyxy):
        assert np.array_equal(mask, result.labels == class_id) and name == result.class_names[class_id]
        ys, xs = np.nonzero(mask)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert result.to_coco(7)[0]["image_id"] == 7
    import supervision as sv

    annotated = sv.MaskAnnotator().annotate(scene=rgb.copy(), detections=detections)  # the README's use
    assert annotated.shape == rgb.shape


@pytest.mark.parametrize("fmt, module, extra", [("coco", "pycocotools", "coco"),
                                                ("labelstudio", "label_studio_sdk", "labelstudio"),
                                                ("geotiff", "rasterio", "geo")])
def test_a_missing_extra_is_one_line_before_anything_loads(tmp_path, fmt, module, extra):
    picture(tmp_path / "x.png", 0)
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from itaclip.cli import main\n"
            f"status = main(['segment', {str(tmp_path / 'x.png')!r}, '--classes', 'cat', '--format', 'png,{fmt}', "
            f"'--out', {str(tmp_path / 'out')!r}])\n"
            "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded'); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2 and proc.stdout.strip() == "torch not loaded"
    error = proc.stderr.strip().splitlines()
    assert len(error) == 1 and f'pip install "itaclip[{extra}]"' in error[0] and f"--format {fmt}" in error[0]
    assert not (tmp_path / "out").exists()


# --- several processes: torchrun ----------------------------------------------------------------------------

def torchrun(tree: Path, out: Path, tiny: Path, *extra: str, tag: str = "") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "itaclip.cli",
           "segment", str(tree), "--recursive", "--classes", "cat, dog", "--background", "wall, sky", "--weights",
           str(tiny), "--device", "cpu", "--out", str(out), *FAST, *FORMATS, *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", ITACLIP_TEST_RUN=tag)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def worker_pid(tag: str, rank: int) -> int | None:
    """The pid of the torchrun worker of ``rank`` started with ITACLIP_TEST_RUN=tag."""
    for proc in Path("/proc").iterdir():
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"ITACLIP_TEST_RUN={tag}".encode() in env and f"RANK={rank}".encode() in env and \
                b"LOCAL_RANK=" + str(rank).encode() in env and b"itaclip.cli" in (proc / "cmdline").read_bytes():
            return int(proc.name)
    return None


@pytest.mark.slow
def test_torchrun_equals_one_process_and_resumes_after_a_killed_rank(tree, labelled, tiny_checkpoint, tmp_path):
    """Two processes give the one-process files byte for byte; a rank killed mid-run leaves whole results
    only, and --skip-existing finishes the set without writing any result twice."""
    single = labelled["files"]
    out = tmp_path / "two"
    run = torchrun(tree, out, tiny_checkpoint)
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode != 0  # the rank whose share held the unreadable image exits 1
    got = results(out)
    manifest = [json.loads(line) for line in got["manifest.jsonl"].decode().splitlines()]
    assert len(manifest) == 7 and sorted(line["status"] for line in manifest) == ["failed"] + ["ok"] * 6, stderr
    assert got.keys() == single.keys()
    assert [name for name in got if got[name] != single[name]] == []
    assert "itaclip: 6 of 7 images segmented" in stderr

    killed = tmp_path / "killed"
    tag = uuid.uuid4().hex
    shares = [len(list(collection.mine(collection.collect([str(tree)], True), Launch(r, 2)))) for r in (0, 1)]
    rank = shares.index(max(shares))  # the process with more images: killed after its first result
    run = torchrun(tree, killed, tiny_checkpoint, tag=tag)
    deadline = time.time() + 300

    def first_result() -> bool:
        parts = list((killed / collection.PARTS).glob(f"*-rank{rank}-of2.jsonl"))
        return bool(parts) and '"ok"' in parts[0].read_text()

    while time.time() < deadline and not first_result():
        time.sleep(0.005)
    pid = worker_pid(tag, rank)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=300)
    assert run.returncode != 0
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in killed.rglob("*") if p.is_file()
              and not p.name.startswith(".") and p.suffix in (".png", ".json")}
    assert before  # the killed process had finished some results
    for path in before:  # whole files only under the real names
        if path.suffix == ".png":
            Image.open(path).load()
        else:
            json.loads(path.read_text())
    assert segment(str(tree), "--recursive", "--out", str(killed), "--skip-existing", *FORMATS,
                   tiny=tiny_checkpoint) == 1
    after = results(killed)
    assert {name for name in after if not name.startswith(".")} == single.keys()
    assert [name for name in single if after[name] != single[name] and name != "manifest.jsonl"] == []
    assert {line["status"] for line in map(json.loads, after["manifest.jsonl"].decode().splitlines())} >= \
        {"skipped", "failed"}
    for path, stamp in before.items():  # no result written twice
        assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp, path

