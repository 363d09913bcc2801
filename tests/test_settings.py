"""Typed settings: one rule per key, checked where the settings are made; configs, the API and the command give
the same line (``key=value: key must be ...``; the command names what was typed, ``--set key=typed: key must
be ...``)."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from itaclip import settings
from itaclip.backbone import LastBlock
from itaclip.settings import Compute, Protocol, SettingError

REPO = Path(__file__).resolve().parents[1]

# (key, value as Python, value as typed after --set, the rule's words)
BAD = [
    ("prob_thd", 5, "5", "a number from 0 to 1"),
    ("area_thd", 2.5, "2.5", "a number from 0 to 1, or None"),
    ("logit_scale", -40, "-40", "a finite number above 0"),
    ("logit_scale", float("inf"), "1e999", "a finite number above 0"),
    ("slide_stride", 0, "0", "a whole number, 1 or more"),
    ("slide_stride", -28, "-28", "a whole number, 1 or more"),
    ("slide_crop", 22.5, "22.5", "a whole number, 0 or more"),
    ("pamr_steps", True, "True", "a whole number, 0 or more"),
    ("pamr_stride", (0, 0), "(0,0)", "a list of whole numbers, each 1 or more, e.g. (8, 16)"),
    ("img_engineering", 1, "1", "True or False"),
    ("tile_budget_mb", 0, "0", "a finite number above 0, or None"),
    ("precision", "fp8", "fp8", "one of fp32, fp16, bf16, or None (fp16 on CUDA, fp32 on a CPU)"),
]


def line(key, value, what):
    return f"{key}={value!r}: {key} must be {what}"


def test_defaults_are_valid_and_frozen():
    protocol = Protocol()
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.slide_stride = 56
    assert Protocol(pamr_stride=[4, 8]).pamr_stride == (4, 8)  # a config's list becomes the frozen tuple
    assert settings.settable() == Protocol.keys() + Compute.keys()
    assert all(settings.doc(key) for key in settings.settable())
    assert LastBlock(fuse_blocks=[7, 8]).fuse_blocks == (7, 8)


@pytest.mark.parametrize("key,value,typed,what", BAD, ids=[f"{b[0]}={b[2]}" for b in BAD])
def test_a_bad_value_is_one_line_naming_key_value_and_range(key, value, typed, what):
    owner = settings.owner_of(key)
    with pytest.raises(SettingError) as caught:
        owner(**{key: value})
    assert str(caught.value) == line(key, value, what)
    with pytest.raises(SettingError) as again:  # a change is checked as a new value
        owner().changed(**{key: value})
    assert str(again.value) == str(caught.value)


def test_unknown_keys_are_named():
    with pytest.raises(SettingError, match="slide_strides: not a Protocol setting; settings: slide_crop, "):
        Protocol().changed(slide_strides=56)
    with pytest.raises(SettingError, match="^colour: unknown setting; settings: slide_crop"):
        settings.check_key("colour", 1)


@pytest.mark.slow
@pytest.mark.parametrize("key,value,typed,what", BAD[:6] + BAD[8:9], ids=[f"{b[0]}={b[2]}" for b in BAD[:6] + BAD[8:9]])
def test_config_api_and_command_give_the_same_line(key, value, typed, what, tiny_checkpoint, golden_dir, tmp_path):
    from mmseg.registry import MODELS

    import itaclip.models  # noqa: F401
    from itaclip.api import Segmenter

    expected = line(key, value, what)
    names = str(golden_dir / "voc_like.classes.txt")
    with pytest.raises(SettingError) as config:
        MODELS.build(dict(type="ITACLIPSegmentor", model_name=str(tiny_checkpoint), name_path=names, device="cpu",
                          **{key: value}))
    assert str(config.value).endswith(expected)  # mmengine puts the class's name in front
    with pytest.raises(SettingError) as api:
        Segmenter.from_classes(["cat", "dog"], background="wall", weights=str(tiny_checkpoint), device="cpu",
                               **{key: value})
    assert str(api.value) == expected
    (tmp_path / "x.png").write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "itaclip.cli", "segment", str(tmp_path / "x.png"), "--classes",
                           "cat", "--background", "wall", "--set", f"{key}={typed}", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 2
    assert done.stderr == f"itaclip segment: error: --set {key}={typed}: {key} must be {what}\n"
