"""The configs are composed the mmseg way (``configs/_base_/``) and each preset still resolves to what it did.

``tests/data/resolved_configs.json`` holds every preset's resolved config (``Config.to_dict()``), keyed by
its path under ``configs/``; absolute paths inside ``configs/`` are written relative to it (normalised), so
the file is the same on every machine. It was written from the configs as they were before the
``_base_`` layout; to write it again after a deliberate change of a setting:

    python tests/test_config_composition.py --update
"""
from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from mmengine.config import Config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SNAPSHOT = Path(__file__).resolve().parent / "data" / "resolved_configs.json"
PRESETS = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("cfg_*.py"))
WINDOW = 6  # this many identical code lines in two places count as a repeated block


def _relative(value: str) -> str:
    """An absolute path inside configs/ as a path relative to it (normalised); anything else unchanged."""
    if not os.path.isabs(value):
        return value
    path = os.path.normpath(value)
    for root in {os.path.normpath(str(CONFIGS)), os.path.realpath(CONFIGS)}:
        if path == root or path.startswith(root + os.sep):
            return Path(os.path.relpath(path, root)).as_posix()
    return value


def _normalise(value):
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):  # tuples as lists, as JSON writes them
        return [_normalise(item) for item in value]
    if isinstance(value, str):
        return _relative(value)
    return value


def resolved(preset: str) -> dict:
    """The preset's config as mmengine resolves it, machine-independent and JSON-shaped."""
    cfg = Config.fromfile(str(CONFIGS / preset), import_custom_modules=False)
    return json.loads(json.dumps(_normalise(cfg.to_dict())))


def repeated_blocks(folder: Path = CONFIGS, window: int = WINDOW) -> list[str]:
    """Places where the same ``window`` code lines (stripped, blank and comment lines left out) stand
    again, in any .py file under ``folder``: one line per repeated block, naming every place."""
    places = defaultdict(list)
    for path in sorted(folder.rglob("*.py")):
        lines = [(number, " ".join(line.split())) for number, line in enumerate(path.read_text().splitlines(), 1)]
        code = [(number, line) for number, line in lines if line and not line.startswith("#")]
        for start in range(len(code) - window + 1):
            block = tuple(line for _, line in code[start:start + window])
            where = f"{path.relative_to(folder).as_posix()}:{code[start][0]}-{code[start + window - 1][0]}"
            places[block].append(where)
    return [" ~ ".join(where) for where in places.values() if len(where) > 1]


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


def test_the_presets_are_the_snapshots(snapshot):
    """No preset appeared or went away (``itaclip presets`` lists the same names)."""
    assert PRESETS == sorted(snapshot)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_resolves_as_before(preset, snapshot):
    """Everything, model to hooks, is what the snapshot holds."""
    assert resolved(preset) == snapshot[preset]


def test_no_block_of_lines_is_written_twice():
    """A setting shared by several configs is written once, in configs/_base_/."""
    blocks = repeated_blocks()
    assert not blocks, "the same lines stand in several places:\n" + "\n".join(blocks)


def test_the_checker_finds_a_repeated_block(tmp_path):
    block = "".join(f"x{i} = {i}\n" for i in range(WINDOW))
    (tmp_path / "a.py").write_text("# a\n" + block)
    (tmp_path / "b.py").write_text("y = 0\n\n" + block.replace("\n", "  \n", 1))
    assert repeated_blocks(tmp_path) == [f"a.py:2-{WINDOW + 1} ~ b.py:3-{WINDOW + 2}"]
    (tmp_path / "b.py").write_text(block.replace("x0 = 0", "x0 = 1"))
    assert repeated_blocks(tmp_path) == []


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(f"usage: python {Path(__file__).name} --update  (writes {SNAPSHOT})")
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps({preset: resolved(preset) for preset in PRESETS}, indent=1) + "\n")
    print(f"{SNAPSHOT}: {len(PRESETS)} presets")
