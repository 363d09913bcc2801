"""Typed settings, one source of truth: what a segmentor computes, and how much it may spend doing it.

Frozen dataclasses, each validated where it is made (configs, the API, the
command's ``--set`` and the web page all build them, so all get the same
one-line :class:`SettingError`):

* :class:`~itaclip.backbone.LastBlock` (beside the forward it describes): what
  the last vision block computes (its attention kernel, by name from
  :mod:`itaclip.kernels`, the blocks whose maps are mixed in, residual and
  feed-forward);
* :class:`Protocol`: how an image is segmented: windows, views, LLM-text
  mixing, refinement (PAMR) and post-processing. A method is a choice of
  values here and in :class:`LastBlock`;
* :class:`Compute`: precision, memory budgets, the paper's order for checks,
  ``torch.compile``. None of these changes a label (beyond float rounding).

Each field's ``metadata["rule"]`` says what values it takes; :func:`check`
applies a field's rule to a value, so a value can be checked before anything
heavy loads. This module imports nothing heavy (the command imports it to
check ``--set`` at once).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple


class SettingError(ValueError):
    """A setting out of its range: one line naming the key, the value and what it may be."""


class Rule(NamedTuple):
    """What a setting may be: ``what`` in words, ``test`` on a value that is not None; None is allowed when
    ``optional``."""

    what: str
    test: Callable[[Any], bool]
    optional: bool = False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


FLAG = Rule("True or False", lambda v: isinstance(v, bool))
FLAG_OR_NONE = Rule("True, False or None", lambda v: isinstance(v, bool), optional=True)
FRACTION = Rule("a number from 0 to 1", lambda v: _number(v) and 0 <= v <= 1)
FRACTION_OR_NONE = Rule("a number from 0 to 1, or None", FRACTION.test, optional=True)
POSITIVE = Rule("a finite number above 0", lambda v: _number(v) and v > 0)
POSITIVE_OR_NONE = Rule("a finite number above 0, or None", POSITIVE.test, optional=True)
WHOLE = Rule("a whole number, 0 or more", lambda v: _whole(v) and v >= 0)
WHOLE_POSITIVE = Rule("a whole number, 1 or more", lambda v: _whole(v) and v >= 1)
WHOLE_OR_NONE = Rule("a whole number, 1 or more, or None", WHOLE_POSITIVE.test, optional=True)
DILATIONS = Rule("a list of whole numbers, each 1 or more, e.g. (8, 16)",
                 lambda v: isinstance(v, tuple) and len(v) > 0 and all(_whole(d) and d >= 1 for d in v))
BLOCKS = Rule("a list of block numbers, each 1 or more, e.g. (7, 8, 10), or ()",
              lambda v: isinstance(v, tuple) and all(_whole(d) and d >= 1 for d in v))
PRECISIONS = ("fp32", "fp16", "bf16")
PRECISION = Rule(f"one of {', '.join(PRECISIONS)}, or None (fp16 on CUDA, fp32 on a CPU)",
                 lambda v: v in PRECISIONS, optional=True)
SEPARATOR = Rule("a non-empty string such as ', ' or ','", lambda v: isinstance(v, str) and v != "")


def setting(default: Any, rule: Rule, doc: str) -> Any:
    """A dataclass field with its rule and a line of documentation."""
    return field(default=default, metadata=dict(rule=rule, doc=doc))


def _as_tuple(value: Any) -> Any:
    """Lists (configs and JSON write them) become tuples, the frozen form."""
    return tuple(value) if isinstance(value, list) else value


def check(owner: type, key: str, value: Any) -> Any:
    """``value`` for ``owner``'s field ``key`` as stored (lists as tuples), or a :class:`SettingError`."""
    rule = _fields(owner)[key].metadata["rule"]
    value = _as_tuple(value)
    if (value is None and rule.optional) or (value is not None and rule.test(value)):
        return value
    raise SettingError(f"{key}={value!r}: {key} must be {rule.what}")


def _fields(owner: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(owner)}


class Validated:
    """Checks every field against its rule after ``__init__`` (and after :func:`dataclasses.replace`)."""

    def __post_init__(self) -> None:
        for key in _fields(type(self)):
            object.__setattr__(self, key, check(type(self), key, getattr(self, key)))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(_fields(cls))

    def changed(self, **changes: Any):
        """A copy with ``changes`` (checked; an unknown key is a :class:`SettingError` listing the keys)."""
        unknown = [key for key in changes if key not in _fields(type(self))]
        if unknown:
            raise SettingError(f"{unknown[0]}: not a {type(self).__name__} setting; settings: "
                               f"{', '.join(self.keys())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain values (tuples as lists), for a run record."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Protocol(Validated):
    """How an image is segmented (paper sections 3-5); the defaults are ITACLIP's shared settings.

    Window: ``slide_crop``/``slide_stride`` (``slide_crop=0``: the whole image
    is one crop), ``window_padding`` (each window zero-padded to whole patches,
    centred: ClearCLIP; or to a multiple of ``padding_multiple`` pixels:
    ProxyCLIP's 56). Views: ``img_engineering`` (five views of each crop)
    mixed with ``img_eng_coefficient`` (lambda). Texts: ``def_coefficient``
    (beta, weight of a class's LLM text), ``name_separator`` (between the names
    of a class-file line). Refinement: ``pamr_steps``/``pamr_stride``
    (dilations), ``whole_image_pamr`` (PAMR on the whole-image path too:
    NACLIP), ``whole_image_via_input`` (whole-image logits resized to the input
    size before the output size: NACLIP). Post-processing: ``logit_scale``,
    ``prob_thd``, ``area_thd``, ``closing`` (3x3 morphological closing of the
    labels), ``renormalise`` (stored class probabilities divided by their sum:
    NACLIP).
    """

    slide_crop: int = setting(224, WHOLE, "window side in pixels; 0: the whole image is one crop")
    slide_stride: int = setting(28, WHOLE_POSITIVE, "window stride in pixels")
    window_padding: bool = setting(False, FLAG, "windows zero-padded to whole patches, centred")
    padding_multiple: int | None = setting(None, WHOLE_OR_NONE,
                                           "window_padding pads to a multiple of this many pixels; None: a patch")
    img_engineering: bool = setting(True, FLAG, "five views of each crop (image engineering)")
    img_eng_coefficient: float = setting(0.75, FRACTION, "lambda: weight of views 1-3 against the flips")
    def_coefficient: float = setting(0.2, FRACTION, "beta: weight of a class's LLM text")
    name_separator: str = setting(", ", SEPARATOR, "between the names of a class-file line")
    pamr_steps: int = setting(10, WHOLE, "PAMR iterations; 0: no PAMR")
    pamr_stride: tuple[int, ...] = setting((8, 16), DILATIONS, "PAMR dilations")
    whole_image_pamr: bool = setting(False, FLAG, "PAMR on the whole-image path too")
    whole_image_via_input: bool = setting(False, FLAG, "whole-image logits resized to the input size first")
    logit_scale: float = setting(40, POSITIVE, "softmax temperature of the cosine logits")
    prob_thd: float = setting(0.0, FRACTION, "pixels below this top probability go to class 0")
    area_thd: float | None = setting(None, FRACTION_OR_NONE, "classes with a smaller share of the area are dropped")
    closing: bool = setting(True, FLAG, "3x3 morphological closing of the label map")
    renormalise: bool = setting(False, FLAG, "stored class probabilities divided by their sum")


@dataclass(frozen=True)
class Compute(Validated):
    """How the computation runs (not what it computes): precision, memory, the paper's order, compilation.

    ``precision`` (None: fp16 on CUDA, fp32 on a CPU); ``memory_budget_mb``
    (bytes a forward pass may use; None: see :mod:`itaclip.budget`);
    ``tile_budget_mb`` (bytes one tile of the full-size stages may use);
    ``keep_probs`` (store class probabilities: None while they fit the tile
    budget); ``sequential`` (the paper's order, one pass per window and view:
    the yardstick); ``compile`` (``torch.compile`` the vision forward);
    ``width_chunk_size`` (the paper's memory workaround: accepted for its
    configs, not needed here).
    """

    precision: str | None = setting(None, PRECISION, "weights and activations' precision")
    memory_budget_mb: float | None = setting(None, POSITIVE_OR_NONE, "MiB one forward pass may use")
    tile_budget_mb: float | None = setting(None, POSITIVE_OR_NONE, "MiB one full-size tile may use")
    keep_probs: bool | None = setting(None, FLAG_OR_NONE, "store the class probabilities")
    sequential: bool = setting(False, FLAG, "the paper's order, one pass per window and view")
    compile: bool = setting(False, FLAG, "torch.compile the vision forward")
    width_chunk_size: int | None = setting(None, WHOLE_OR_NONE, "the paper's memory workaround (not needed)")



SETTINGS = (Protocol, Compute)  # the flat keys of --set, the API and configs


def owner_of(key: str) -> type | None:
    """The settings class with a field ``key`` (None for other keys)."""
    return next((cls for cls in SETTINGS if key in _fields(cls)), None)


def check_key(key: str, value: Any) -> Any:
    """``value`` checked for the setting ``key`` of the protocol or the compute settings (a
    :class:`SettingError` if neither has it), without making either."""
    owner = owner_of(key)
    if owner is None:
        raise SettingError(f"{key}: unknown setting; settings: {', '.join(settable())}")
    return check(owner, key, value)


def settable() -> tuple[str, ...]:
    """Every flat setting's key: the protocol's, then the compute budget's (the last block is set as a whole,
    ``last_block=dict(...)``)."""
    return Protocol.keys() + Compute.keys()


def doc(key: str) -> str:
    """A setting's line of documentation."""
    owner = owner_of(key)
    return _fields(owner)[key].metadata["doc"] if owner else ""
