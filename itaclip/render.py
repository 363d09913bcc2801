"""Reading images and drawing results: the label map, its colours, an overlay with a legend.

Shared by :class:`~itaclip.api.Segmenter`, the ``itaclip segment`` command and
``demo.ipynb``, so the three show a result the same way.
"""
from __future__ import annotations

from . import _shim  # noqa: F401  (first: lets mmseg import on mmcv-lite)

# isort: split
import colorsys
import dataclasses
import functools
import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import mmcv
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, bytes]
EXIF_ORIENTATION = 0x0112  # EXIF tag: 5-8 mean the stored image is turned a quarter
BLEND_BAND_PIXELS = 2**20  # the overlay is blended a band of about this many pixels at a time
DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # PIL modes of 16-bit and float images


class ImageReadError(ValueError):
    """An image file could not be read; the message is the reason only (callers add the path)."""


# ------------------------------------------------------------------------------------------ images

def to_uint8(array: np.ndarray) -> np.ndarray:
    """8-bit values of an image array: uint8 as it is; 16-bit, 32-bit and float images stretched from their
    real range (lowest to highest value) to 0..255, so a 12-bit scan or a float map is not black."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageReadError(f"image arrays must hold numbers, got {array.dtype}")
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise ImageReadError("the image holds no finite value")
    low, high = values[finite].min(), values[finite].max()
    scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)


def _from_pil(image: Image.Image) -> np.ndarray:
    """RGB uint8 of a PIL image, turned upright by its EXIF orientation; deep modes by their real range."""
    image = ImageOps.exif_transpose(image)
    if image.mode in DEEP_MODES:
        return to_rgb(to_uint8(np.asarray(image)))
    return np.asarray(image.convert("RGB"))


def _decode(data: bytes) -> np.ndarray:
    """RGB uint8 of an encoded image: OpenCV's decoder as mmseg's loader uses (8-bit images), PIL for 16-bit and
    float images (by their real range) and for what OpenCV can't read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            deep = img.mode in DEEP_MODES
            if deep:
                return _from_pil(img)
    except (UnidentifiedImageError, Image.DecompressionBombError):  # OpenCV's decoder has its own limit
        deep = False
    except (OSError, ValueError, SyntaxError) as err:  # PIL reports damaged files in all three
        raise ImageReadError(str(err) or type(err).__name__) from None
    bgr = mmcv.imfrombytes(data, flag="color", backend="cv2") if data else None
    if bgr is not None:
        return np.ascontiguousarray(bgr[..., ::-1])
    try:
        with Image.open(io.BytesIO(data)) as img:
            return _from_pil(img)
    except UnidentifiedImageError:
        raise ImageReadError("unknown format or corrupt data") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageReadError(str(err) or type(err).__name__) from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file from its header, nothing decoded; (0, 0) when PIL can't tell."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the size of a huge image is the point
    try:
        with Image.open(path) as img:
            width, height = img.size
            turned = img.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
        return (width, height) if turned else (height, width)
    except (OSError, ValueError, SyntaxError):
        return 0, 0
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def decode_reduced(path: str | os.PathLike, max_pixels: int) -> np.ndarray:
    """RGB uint8 of an image file at a reduced size, for segmenting at a working size of ``max_pixels``: a
    JPEG is decoded at 1/2, 1/4 or 1/8 of its size (its own DCT scaling: the smallest that still has at least
    ``max_pixels``), so a huge photo is never held whole; other formats are decoded whole and shrunk.
    Upright by the EXIF orientation, as :func:`to_rgb`."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the size of a huge image is the point
    try:
        with Image.open(path) as img:
            width, height = img.size
            scale = min(1.0, (max_pixels / max(1, width * height)) ** 0.5)
            if img.format == "JPEG":
                img.draft("RGB", (max(1, int(width * scale + 1)), max(1, int(height * scale + 1))))
            img.load()
            factor = int((img.width * img.height / max_pixels) ** 0.5)  # formats without reduced decoding
            if factor > 1:
                img = img.reduce(factor)
            return _from_pil(img)
    except UnidentifiedImageError:
        raise ImageReadError("unknown format or corrupt data") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageReadError(str(err) or type(err).__name__) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def to_rgb(image: ImageInput) -> np.ndarray:
    """Any accepted image as an (H, W, 3) RGB uint8 array.

    A path (read like mmseg reads it), the bytes of an image file or an open
    binary file, a PIL image (upright by its EXIF orientation, as a path is),
    or an array: H x W x 3 RGB, H x W (x 1) grayscale or H x W x 4 RGBA (alpha
    dropped, as OpenCV does). 16-bit and float images, whichever way they
    come, are stretched from their real range to 8 bits.
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            data = Path(image).read_bytes()
        except OSError as err:
            raise ImageReadError(err.strerror or type(err).__name__) from None
        return _decode(data)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image))
    if hasattr(image, "read"):
        return _decode(image.read())
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if not hasattr(image, "__array__") and not isinstance(image, (list, tuple)):
        raise ValueError(f"cannot read an image from a {type(image).__name__}; give a path, bytes, a file, "
                         "a PIL image or an array")
    array = to_uint8(np.asarray(image))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[..., :3])
    raise ValueError(f"image arrays must be HxW, HxWx3 or HxWx4, got shape {array.shape}")


# ------------------------------------------------------------------------------------------ colours

def class_colour(index: int, background: bool) -> tuple[int, int, int]:
    """A fixed colour per class: black for the background, else hues a golden angle apart.

    Saturation and brightness cycle through three levels each, so that classes
    whose hues come close still differ (81 classes: no two within 23 in RGB L1).
    """
    if background and index == 0:
        return (0, 0, 0)
    step = index + (0 if background else 1)
    hue = (step * 0.618033988749895) % 1.0
    saturation = (1.0, 0.7, 0.45)[step % 3]
    value = (0.95, 0.75, 0.55)[(step // 3) % 3]
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, value))


def palette(num_classes: int, background: bool) -> np.ndarray:
    """(num_classes, 3) uint8 colours of :func:`class_colour`."""
    return np.array([class_colour(i, background) for i in range(num_classes)], dtype=np.uint8)


# Fonts with wide coverage (accents, Greek, Cyrillic; CJK where a Noto CJK font is installed), best first.
SYSTEM_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/Library/Fonts/Arial Unicode.ttf", "C:/Windows/Fonts/arial.ttf")


def font_files() -> list[Path]:
    """Legend fonts to try: the system's wide-coverage fonts, then the DejaVu Sans matplotlib ships."""
    files = [Path(f) for f in SYSTEM_FONTS]
    spec = importlib.util.find_spec("matplotlib")  # located, not imported
    if spec is not None and spec.submodule_search_locations:
        files.append(Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    return [f for f in files if f.is_file()]


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    """The first legend font that loads; Pillow's scalable default (Latin), else its bitmap font."""
    for path in font_files():
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # no FreeType: the fixed bitmap font
        return ImageFont.load_default()


# ------------------------------------------------------------------------------------------ results

@dataclass
class Segmentation:
    """One image's result at the image's own resolution.

    ``labels`` (H, W) class indices (uint8 up to 256 classes); ``probs``
    (C, H, W) class probabilities (CPU), or None when they were not kept;
    ``class_names`` one display name per class (``"background"`` for class 0
    when there is one); ``classes`` every name of each class; ``background``
    whether class 0 is background; ``working_size`` (h, w) when the image was
    segmented at a smaller working size and its labels upsampled.
    """

    labels: np.ndarray
    probs: torch.Tensor | None
    class_names: list[str]
    classes: list[list[str]]
    background: bool
    working_size: tuple[int, int] | None = None

    @property
    def colours(self) -> np.ndarray:
        return palette(len(self.class_names), self.background)

    def shares(self) -> list[float]:
        """Share of the image's pixels labelled with each class (they sum to 1)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.class_names))
        return (counts / max(1, self.labels.size)).tolist()

    def present(self) -> list[int]:
        """Indices of the classes that label at least one pixel."""
        return [i for i, share in enumerate(self.shares()) if share > 0]

    def mask_image(self) -> Image.Image:
        """The label map as a palette PNG image (mode ``P``: pixel value = class index)."""
        if len(self.class_names) > 256:
            raise ValueError(f"a palette image holds 256 classes, not {len(self.class_names)}")
        mask = Image.fromarray(self.labels.astype(np.uint8), mode="P")
        mask.putpalette(self.colours.ravel().tolist())
        return mask

    def to_coco(self, image_id: int = 1) -> list[dict]:
        """COCO stuff-segmentation annotations of this image, one per class present (compressed RLE from
        pycocotools, ``area``, ``bbox``, ``category_id`` = class index + 1); needs the ``[coco]`` extra."""
        from .formats import coco_annotations

        return coco_annotations(self, image_id)

    def to_detections(self):
        """A ``supervision.Detections`` of this image: one detection per class present, with its mask, box
        (x1, y1, x2, y2, pixel edges), ``class_id`` and ``data["class_name"]``; needs ``supervision``."""
        import supervision as sv

        present = self.present()
        masks = np.stack([self.labels == index for index in present]) if present else \
            np.zeros((0, *self.labels.shape), bool)
        boxes = np.zeros((len(present), 4), np.float32)
        for row, mask in enumerate(masks):
            ys, xs = np.nonzero(mask)
            boxes[row] = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        return sv.Detections(xyxy=boxes, mask=masks, class_id=np.array(present, dtype=int),
                             data=dict(class_name=np.array([self.class_names[i] for i in present])))

    def resized(self, size: tuple[int, int]) -> "Segmentation":
        """This result's labels at another (height, width), nearest neighbour, without probabilities: a preview
        (the overlay of an image decoded at a reduced size)."""
        labels = cv2.resize(self.labels, size[::-1], interpolation=cv2.INTER_NEAREST)
        return dataclasses.replace(self, labels=labels, probs=None)

    def colour_mask(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB: each pixel in its class's colour."""
        return self.colours[self.labels]

    def blend(self, image: ImageInput, alpha: float = 0.5) -> np.ndarray:
        """(H, W, 3) uint8: the image mixed with the colour mask; background pixels stay as they are.

        Computed in bands of rows, so a large photo needs no float copy of itself.
        """
        rgb = to_rgb(image)
        if rgb.shape[:2] != self.labels.shape:
            raise ValueError(f"an image of {rgb.shape[1]} x {rgb.shape[0]} pixels for labels of {self.labels.shape[1]} "
                             f"x {self.labels.shape[0]}: give the image this result was segmented from")
        out = np.empty_like(rgb)
        band = max(1, BLEND_BAND_PIXELS // max(1, rgb.shape[1]))
        for top in range(0, rgb.shape[0], band):
            labels, pixels = self.labels[top:top + band], rgb[top:top + band].astype(np.float32)
            mixed = (1 - alpha) * pixels + alpha * self.colours[labels].astype(np.float32)
            if self.background:
                mixed[labels == 0] = pixels[labels == 0]
            out[top:top + band] = np.clip(np.rint(mixed), 0, 255)
        return out

    def overlay(self, image: ImageInput, alpha: float = 0.5) -> Image.Image:
        """The blend with a legend of the classes present (colour swatch and name) to its right."""
        blended = Image.fromarray(self.blend(image, alpha))
        width, height = blended.size
        font = _font(max(12, min(width, height) // 30))
        line = max(14, round(font.getbbox("Ag")[3] * 1.5))
        pad, swatch = line // 2, line - 4
        shares = self.shares()
        entries = [f"{self.class_names[i]} ({100 * shares[i]:.1f}%)" for i in self.present()]
        text_width = max(round(font.getlength(text)) for text in entries)
        legend_width = 3 * pad + swatch + text_width
        canvas = Image.new("RGB", (width + legend_width, max(height, 2 * pad + line * len(entries))), "white")
        canvas.paste(blended, (0, 0))
        draw = ImageDraw.Draw(canvas)
        for row, (index, text) in enumerate(zip(self.present(), entries)):
            top = pad + row * line
            left = width + pad
            draw.rectangle([left, top + 2, left + swatch, top + 2 + swatch],
                           fill=tuple(int(c) for c in self.colours[index]), outline=(96, 96, 96))
            draw.text((left + swatch + pad, top + line / 2), text, fill=(0, 0, 0), font=font, anchor="lm")
        return canvas
