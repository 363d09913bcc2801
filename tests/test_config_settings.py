"""Every preset resolves to the settings it ran with before the segmentor became one for all methods.

``tests/data/resolved_settings.json`` was written by building every config with the code as it was then
(one segmentor class per method, settings as attributes): the last block, the protocol and the compute
settings each model ran with, and its classes. Each preset must resolve (through its method's adapter, no
weights read) to the same settings, and build (tiny CLIP) to the same classes and queries.
"""
import json
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import itaclip.models  # noqa: F401  (registers the methods)
from itaclip import llm_texts
from itaclip.backbone import LastBlock
from itaclip.presets import find_config, presets

EXPECTED = json.loads((Path(__file__).parent / "data" / "resolved_settings.json").read_text())


def model_keys(name: str) -> dict:
    keys = Config.fromfile(str(find_config(name))).model.to_dict()
    if keys.get("auxiliary_text_path"):  # this project's texts: the paper's would need the network
        keys["auxiliary_text_path"] = llm_texts.switch(keys["auxiliary_text_path"], "ours")
    return keys


def plain(settings) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in vars(settings).items()}


# methods added after the snapshot: their own tests hold their settings
ADDED_SINCE = ("scclip/", "resclip/", "proxyclip/")


def test_every_preset_is_recorded():
    assert sorted(EXPECTED) == [name for name in presets() if not name.startswith(ADDED_SINCE)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_resolves_to_the_settings_it_ran_with(name):
    keys = model_keys(name)
    recipe = MODELS.get(keys.pop("type")).resolve(**keys)
    expected = EXPECTED[name]
    block = plain(recipe.last_block)
    assert {key: block[key] for key in expected["last_block"]} == expected["last_block"]
    added = {key: value for key, value in block.items() if key not in expected["last_block"]}
    assert added == {key: plain(LastBlock())[key] for key in added}  # fields added since: at their defaults
    assert {key: plain(recipe.protocol)[key] for key in expected["protocol"]} == expected["protocol"]
    assert {key: plain(recipe.compute)[key] for key in expected["compute"]} == expected["compute"]
    assert recipe.dataset_name == expected["dataset_name"]


@pytest.mark.slow
def test_every_preset_builds_with_the_same_classes(tiny_checkpoint):
    init_default_scope("mmseg")
    for name in sorted(EXPECTED):
        keys = model_keys(name)
        keys.update(model_name=str(tiny_checkpoint), device="cpu")
        model = MODELS.build(keys)
        expected = EXPECTED[name]
        assert (model.background, model.num_classes, len(model.query_idx)) == \
            (expected["background"], expected["num_classes"], expected["queries"]), name
