"""``itaclip serve``: a local web page that segments your own images.

Drop a photo (or pick the example), type the classes (``;`` between
synonyms, as for the command) and, if you like, background names; choose a
preset (any method's), turn the settings people turn (window stride,
``prob_thd``, PAMR steps, ``logit_scale``), and see the overlay with its
legend and the share of each class; the mask PNG and the JSON that
``itaclip segment`` writes are there to download.

Built on Gradio (``pip install -e ".[web]"``) and on :mod:`itaclip.api`: one
model per preset, built on first use and kept (changing the classes only
embeds the new names, from the cache when seen before); the files are the
command's own (:func:`itaclip.results.save_results`). Requests queue and run one
at a time, so one GPU is never asked for two images at once.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: nothing is reported anywhere

import functools  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from . import api, provenance  # noqa: E402
from .class_files import parse_background, parse_classes  # noqa: E402
from .kernels import ProxyMaskError  # noqa: E402
from .presets import default_preset, presets  # noqa: E402
from .render import ImageReadError, image_size, to_rgb  # noqa: E402
from .results import save_results  # noqa: E402
from .settings import SettingError, doc  # noqa: E402

DEFAULT_CLASSES = "cat, dog, person, sofa, tv; monitor"
DEFAULT_BACKGROUND = "wall, floor, sky"
# The Protocol fields the page offers: (field, slider's low, high and step, a note on its use here)
SLIDERS = (("slide_stride", 8, 224, 4, " (larger is faster)"), ("prob_thd", 0, 1, 0.01, " (with a background)"),
           ("pamr_steps", 0, 20, 1, ""), ("logit_scale", 1, 100, 1, ""))
TUNED = tuple(key for key, *_ in SLIDERS)


def image_drop() -> gr.Image:
    """An image drop zone that hands over the uploaded file as it came.

    The file is then read by :func:`itaclip.render.to_rgb`, as the command
    reads it (EXIF orientation, 16-bit images), and a file that is no image
    gets our one-line message instead of Gradio's generic failure. (An
    instance's ``preprocess`` is replaced rather than subclassing: Gradio
    takes a subclass for a custom component with a front end of its own.)
    """
    image = gr.Image(label="image", type="filepath", height=360, elem_id="image")
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


class Models:
    """One :class:`~itaclip.api.Segmenter` per preset, built once, and the classes it was last given."""

    def __init__(self, weights: str | None, device: str | None, vfm_weights: str | None = None):
        self.weights, self.device, self.vfm_weights = weights, device, vfm_weights
        self._built: dict[str, tuple[api.Segmenter, Any]] = {}
        self.lock = threading.RLock()  # held for a whole request: the model's settings are per request
        self.results = tempfile.TemporaryDirectory(prefix="itaclip_serve_")  # removed when the server stops

    def get(self, preset: str, classes: list[list[str]], background: list[str] | None) -> api.Segmenter:
        with self.lock:
            key = (tuple(map(tuple, classes)), tuple(background or ()))
            if preset not in self._built:  # the second vision model goes to the methods that have one
                second = dict(vfm_name=self.vfm_weights) if self.vfm_weights and api.preset_recipe(preset).vfm_name \
                    else {}
                segmenter = api.Segmenter.from_classes(classes, background=background, weights=self.weights,
                                                       device=self.device, preset=preset, **second)
                self._built[preset] = segmenter, key
            segmenter, current = self._built[preset]
            if current != key:
                segmenter.set_classes(classes, background)
                self._built[preset] = segmenter, key
            return segmenter


@functools.lru_cache(maxsize=None)
def preset_settings(preset: str) -> dict[str, Any]:
    """The preset's values of the settings the page offers (and its ``area_thd``), as its method resolves
    them (:func:`itaclip.api.preset_recipe`); each config read once."""
    protocol = api.preset_recipe(preset).protocol
    return {key: getattr(protocol, key) for key in (*TUNED, "area_thd")}


def example_images() -> list[str]:
    """Grace Hopper's portrait from matplotlib's sample data, when matplotlib is installed."""
    try:
        from matplotlib import cbook

        return [str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]
    except (ImportError, OSError, ValueError):
        return []


def segment(models: Models, path: str | None, classes_text: str, background_text: str, preset: str,
            slide_stride: float, prob_thd: float, pamr_steps: float, logit_scale: float,
            progress: gr.Progress | None = None) -> tuple[str, list[list[str]], list[str]]:
    """One request: the overlay's file, a table of the classes present and their shares, the files to download.

    Every mistake ends in :class:`gradio.Error` with one line; the server goes on.
    """
    progress = progress or (lambda *a, **k: None)
    if not path:
        raise gr.Error("drop an image first (or pick the example below)")
    classes = parse_classes(classes_text)
    if not classes or not all(classes):
        raise gr.Error("type the classes, separated by commas, e.g. cat, dog, tv; monitor")
    background = parse_background(background_text or "") or None
    if background is None and prob_thd > 0:
        raise gr.Error(f"prob_thd={prob_thd} hands pixels to class 0, which without a background is your first "
                       f"class '{classes[0][0]}'; type background names or set prob_thd to 0")
    if preset not in presets():
        raise gr.Error(f"unknown preset {preset!r}; choose one of the list")
    name = Path(path).name
    with models.lock:
        progress(0.1, desc="building the model (once per preset)")
        segmenter = models.get(preset, classes, background)
        try:  # both thresholds hand pixels to class 0: only with a background
            segmenter.configure(slide_stride=int(slide_stride), pamr_steps=int(pamr_steps),
                                logit_scale=float(logit_scale), prob_thd=float(prob_thd) if background else 0.0,
                                area_thd=preset_settings(preset)["area_thd"] if background else None)
        except SettingError as err:
            raise gr.Error(str(err)) from None
        try:
            size = image_size(path)
            if all(size):  # a photo too thin, or too large for memory, is refused before it is decoded
                segmenter.check_size(*size)
                segmenter.check_fits(*size, probs=False)
            rgb = to_rgb(path)
        except ImageReadError as err:
            raise gr.Error(f"{name}: cannot read image ({err})") from None
        except (api.ImageTooLarge, api.ImageTooSmall) as err:
            raise gr.Error(f"{name}: {err}") from None
        progress(0.3, desc="segmenting")
        try:
            result = segmenter.segment(rgb, probs=False)
        except ProxyMaskError as err:  # ProxyCLIP on an image of near-uniform content
            raise gr.Error(f"{name}: {err}") from None
        settings = dict(segmenter.settings)
    out = Path(tempfile.mkdtemp(dir=models.results.name))  # one folder a request: names never collide
    stem = Path(name).stem or "image"
    save_results(Path(name), rgb, result, out, stem, settings)
    shares = result.shares()
    table = [[result.class_names[i], f"{100 * shares[i]:.1f} %"] for i in result.present()]
    return str(out / f"{stem}_overlay.png"), table, [str(out / f"{stem}_mask.png"), str(out / f"{stem}.json")]


def build_app(weights: str | None = None, device: str | None = None, preset: str | None = None,
              vfm_weights: str | None = None) -> gr.Blocks:
    """The page; the default preset's model is built now, so bad weights fail before the page is served.
    ``vfm_weights``: the second vision model of the presets whose method has one (ProxyCLIP's DINO)."""
    preset = preset or default_preset(True)
    models = Models(weights, device, vfm_weights)
    first = models.get(preset, parse_classes(DEFAULT_CLASSES), parse_background(DEFAULT_BACKGROUND))
    record = provenance.weights_record(weights or api.default_weights())
    shown = Path(record["path"]).name if record.get("path") else record["model_name"]
    values = preset_settings(preset)
    with gr.Blocks(title="itaclip") as app:
        gr.Markdown(f"## ITACLIP: training-free open-vocabulary segmentation\nCLIP weights: `{shown}`"
                    f" (SHA-256 `{str(record.get('sha256'))[:16]}…`), device `{first.settings['device']}`. "
                    "Classes: commas between classes, `;` between names of one class.")
        with gr.Row():
            with gr.Column():
                image = image_drop()
                classes = gr.Textbox(DEFAULT_CLASSES, label="classes", elem_id="classes")
                background = gr.Textbox(DEFAULT_BACKGROUND, label="background (optional): names that make class 0",
                                        elem_id="background")
                chosen = gr.Dropdown(presets(), value=preset, label="preset (data set settings; method/preset for "
                                                                    "other methods)", elem_id="preset")
                # each slider is a Protocol field: its value the preset's, its words the field's own
                stride, prob, steps, scale = (
                    gr.Slider(low, high, values[key], step=step, label=f"{key}: {doc(key)}{note}", elem_id=key)
                    for key, low, high, step, note in SLIDERS)
                run = gr.Button("Segment", variant="primary", elem_id="segment")
            with gr.Column():
                overlay = gr.Image(label="overlay", type="filepath", interactive=False, height=360, elem_id="overlay")
                table = gr.Dataframe(headers=["class", "share"], label="classes present", interactive=False,
                                     elem_id="shares")
                files = gr.File(label="mask PNG and JSON", file_count="multiple", interactive=False,
                                elem_id="files")
        examples = example_images()
        if examples:
            gr.Examples(examples, inputs=[image])

        def on_segment(path, classes_text, background_text, preset_name, slide_stride, prob_thd, pamr_steps,
                       logit_scale, progress=gr.Progress()):  # noqa: B008  (how Gradio asks for its progress bar)
            return segment(models, path, classes_text, background_text, preset_name, slide_stride, prob_thd,
                           pamr_steps, logit_scale, progress)

        def on_preset(preset_name):
            chosen_values = preset_settings(preset_name)
            return [gr.update(value=chosen_values[key]) for key in TUNED]

        run.click(on_segment, [image, classes, background, chosen, stride, prob, steps, scale],
                  [overlay, table, files], api_name="segment")
        chosen.change(on_preset, [chosen], [stride, prob, steps, scale], api_name=False)
    app.queue(default_concurrency_limit=1)  # one image at a time on one device; the rest wait their turn
    return app


def serve(weights: str | None, device: str | None, host: str, port: int, preset: str | None = None,
          vfm_weights: str | None = None) -> None:
    """Build the page and serve it until interrupted."""
    app = build_app(weights, device, preset, vfm_weights)
    print(f"itaclip serve: http://{host}:{port} (Ctrl+C to stop)", flush=True)
    app.launch(server_name=host, server_port=port, quiet=True, show_error=True)
