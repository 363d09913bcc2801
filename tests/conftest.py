"""Shared fixtures: the golden files kept beside the checkout in ``../shared/golden``; a private cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The golden folder; tests that need it skip where it is absent (as on a user's machine)."""
    if not GOLDEN_DIR.is_dir():
        pytest.skip(f"golden files not found at {GOLDEN_DIR} (they live beside the checkout)")
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def tiny_checkpoint(golden_dir: Path) -> Path:
    """Path to the tiny random CLIP (OpenAI key layout, fp16 state_dict)."""
    path = golden_dir / "tiny_clip_vit16.pt"
    if not path.is_file():
        pytest.skip(f"tiny CLIP checkpoint not found at {path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """Tests never read or write the user's cache (weights, paper texts, digests): one of their own.

    Set in ``os.environ``, so the commands the tests start as subprocesses use it too.
    """
    folder = tmp_path_factory.mktemp("itaclip-cache")
    old = os.environ.get("ITACLIP_CACHE")
    os.environ["ITACLIP_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("ITACLIP_CACHE", None)
    else:
        os.environ["ITACLIP_CACHE"] = old
