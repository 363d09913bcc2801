"""Results in the formats annotation and vision tools import, each through its own library (optional extras).

* ``png`` (no extra): the mask, the overlay and the JSON of :mod:`itaclip.results`;
* ``coco`` (``[coco]``: pycocotools): ``annotations.coco.json``, COCO's format for semantic ("stuff")
  segmentation: one annotation per class present per image, its ``segmentation`` compressed RLE from
  pycocotools' own encoder, with ``area`` and ``bbox``; category ``id`` = class index + 1;
* ``labelstudio`` (``[labelstudio]``: label-studio-sdk): ``labelstudio_tasks.json``, tasks with
  pre-annotations (one ``brushlabels`` result per class present, its ``rle`` from Label Studio's own brush
  encoder) and ``labelstudio_config.xml``, the labelling config they match;
* ``geotiff`` (``[geo]``: rasterio): ``<stem>_mask.tif``, the mask as one band with the input's CRS and
  transform and the classes' colour table; inputs without georeferencing get the PNG mask and a note.

Per image, the COCO annotations and Label Studio results go into the image's JSON (so a resumed run keeps
them); the collection files are assembled from those JSONs, in input order, when the run ends.
Light: the libraries are imported when a format is used; :func:`parse_formats` only looks them up.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from xml.sax.saxutils import quoteattr

from .atomic import atomic_write

if TYPE_CHECKING:
    from .render import Segmentation

FORMATS = ("png", "coco", "labelstudio", "geotiff")
EXTRAS = {"coco": ("pycocotools", "coco"), "labelstudio": ("label_studio_sdk", "labelstudio"),
          "geotiff": ("rasterio", "geo")}  # format -> (module, extra)
COCO_FILE, TASKS_FILE, CONFIG_FILE = "annotations.coco.json", "labelstudio_tasks.json", "labelstudio_config.xml"
GEOTIFF_SUFFIXES = (".tif", ".tiff")


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,coco"`` -> ``("png", "coco")``, checked: a known name, and its library installed (a one-line
    ValueError naming the ``pip install`` otherwise), before anything heavy loads."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in FORMATS]
    if not names or unknown:
        raise ValueError(f"--format {text}: {'unknown format ' + repr(unknown[0]) if unknown else 'no format'}; "
                         f"formats: {', '.join(FORMATS)} (comma-separated)")
    for name in names:
        if name in EXTRAS and not installed(EXTRAS[name][0]):
            module, extra = EXTRAS[name]
            raise ValueError(f"--format {name} needs {module.replace('_', '-')}: pip install \"itaclip[{extra}]\" "
                             f"(or pip install -e \".[{extra}]\" in a checkout; \"[formats]\" installs them all)")
    return names


# ------------------------------------------------------------------------------------------ per image

def coco_annotations(result: Segmentation, image_id: int) -> list[dict[str, Any]]:
    """COCO stuff-segmentation annotations of one image: per class present, its pixels as compressed RLE
    (pycocotools' encoder), ``area``, ``bbox`` ([x, y, width, height]) and ``category_id`` = class + 1."""
    import numpy as np
    from pycocotools import mask as coco_mask

    annotations = []
    for index in result.present():
        rle = coco_mask.encode(np.asfortranarray(result.labels == index, dtype=np.uint8))
        annotations.append(dict(image_id=image_id, category_id=index + 1, iscrowd=0,
                                segmentation=dict(size=[int(v) for v in rle["size"]],
                                                  counts=rle["counts"].decode("ascii")),
                                area=int(coco_mask.area(rle)), bbox=[float(v) for v in coco_mask.toBbox(rle)]))
    return annotations


def labelstudio_results(result: Segmentation, from_name: str = "brush", to_name: str = "image") -> list[dict]:
    """Label Studio brush pre-annotations of one image: per class present, a ``brushlabels`` result whose
    ``rle`` is Label Studio's own encoding of the class's pixels."""
    import numpy as np
    from label_studio_sdk.converter.brush import mask2rle

    height, width = result.labels.shape
    return [dict(id=f"class{index}", from_name=from_name, to_name=to_name, type="brushlabels",
                 original_width=int(width), original_height=int(height), image_rotation=0,
                 value=dict(format="rle", rle=[int(v) for v in mask2rle((result.labels == index).astype(np.uint8)
                                                                          * 255)],
                            brushlabels=[result.class_names[index]]))
            for index in result.present()]


def georeferenced(path: Path) -> bool:
    """Whether ``path`` is a raster with a CRS or a transform other than the identity (rasterio reads it)."""
    if path.suffix.lower() not in GEOTIFF_SUFFIXES:
        return False
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as source:
                return source.crs is not None or not source.transform.is_identity
    except RasterioIOError:
        return False


def write_geotiff(source_path: Path, result: Segmentation, target: Path) -> None:
    """The labels as a one-band GeoTIFF with the source's CRS and transform and the classes' colour table,
    written atomically (uint8 up to 256 classes, else uint16, without a colour table)."""
    import numpy as np
    import rasterio

    with rasterio.open(source_path) as source:
        crs, transform = source.crs, source.transform
    wide = len(result.class_names) > 256
    labels = result.labels.astype(np.uint16 if wide else np.uint8)
    height, width = labels.shape
    with atomic_write(target) as f:
        with rasterio.open(f, "w", driver="GTiff", width=width, height=height, count=1, dtype=labels.dtype,
                           crs=crs, transform=transform, compress="deflate") as sink:
            sink.write(labels, 1)
            if not wide:
                sink.write_colormap(1, {i: (*(int(c) for c in colour), 255)
                                        for i, colour in enumerate(result.colours)})


# ------------------------------------------------------------------------------------------ collection files

def categories(record: dict) -> list[dict]:
    return [dict(id=c["index"] + 1, name=c["name"], supercategory="background" if c["name"] == "background"
                 and c["index"] == 0 else "class") for c in record["classes"]]


def write_coco(out: Path, records: Iterable[tuple[int, dict]]) -> int:
    """``annotations.coco.json`` from the images' JSONs (``(input index, record)``, in input order): image id
    = input index + 1, annotation ids 1, 2, ... in that order. The number of images."""
    images, annotations, classes = [], [], None
    for index, record in records:
        classes = classes or categories(record)
        images.append(dict(id=index + 1, file_name=record["image"], width=record["width"], height=record["height"]))
        for annotation in record.get("coco", []):
            annotations.append(dict(annotation, id=len(annotations) + 1, image_id=index + 1))
    with atomic_write(out / COCO_FILE, "w", encoding="utf-8") as f:
        json.dump(dict(info=dict(description="itaclip segment"), images=images, annotations=annotations,
                       categories=classes or []), f)
    return len(images)


def image_url(path: str, url_prefix: str | None, out: Path) -> str:
    """What a task's ``data.image`` says: the URL prefix plus the path relative to the working folder (or
    its file name), or the absolute path."""
    if url_prefix is None:
        return str(Path(path).resolve())
    relative = Path(path)
    if relative.is_absolute():
        try:
            relative = relative.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            relative = Path(relative.name)
    return url_prefix.rstrip("/") + "/" + relative.as_posix()


def write_labelstudio(out: Path, records: Iterable[tuple[int, dict]], from_name: str, to_name: str,
                      url_prefix: str | None) -> int:
    """``labelstudio_tasks.json`` (one task per image, its results as predictions) and the labelling config
    ``labelstudio_config.xml`` they match. The number of tasks."""
    tasks, classes = [], None
    for index, record in records:
        classes = classes or record["classes"]
        results = [dict(result, from_name=from_name, to_name=to_name) for result in record.get("labelstudio", [])]
        tasks.append(dict(id=index + 1, data=dict(image=image_url(record["image"], url_prefix, out)),
                          predictions=[dict(model_version="itaclip", result=results)]))
    with atomic_write(out / TASKS_FILE, "w", encoding="utf-8") as f:
        json.dump(tasks, f)
    labels = "".join(f'\n    <Label value={quoteattr(c["name"])} background="#{bytes(c["colour"]).hex()}"/>'
                     for c in classes or [])
    with atomic_write(out / CONFIG_FILE, "w", encoding="utf-8") as f:
        f.write(f'<View>\n  <Image name={quoteattr(to_name)} value="$image" zoom="true"/>\n'
                f'  <BrushLabels name={quoteattr(from_name)} toName={quoteattr(to_name)}>{labels}\n'
                '  </BrushLabels>\n</View>\n')
    return len(tasks)
