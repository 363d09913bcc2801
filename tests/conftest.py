"""Shared fixtures: the golden files kept beside the checkout in ``../shared/golden``; a private cache."""
from __future__ import annotations

import http.server
import os
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The golden folder; tests that need it skip where it is absent (as on a user's machine)."""
    if not GOLDEN_DIR.is_dir():
        pytest.skip(f"golden files not found at {GOLDEN_DIR} (they live beside the checkout)")
    return GOLDEN_DIR


def golden_file(golden_dir: Path, name: str, what: str) -> Path:
    path = golden_dir / name
    if not path.is_file():
        pytest.skip(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(golden_dir: Path) -> Path:
    """Path to the tiny random CLIP (OpenAI key layout, fp16 state_dict)."""
    return golden_file(golden_dir, "tiny_clip_vit16.pt", "tiny CLIP checkpoint")


@pytest.fixture(scope="session")
def tiny_dino(golden_dir: Path) -> Path:
    """Path to the tiny random DINO ViT (patch 8, DINO's key layout, fp32 state_dict)."""
    return golden_file(golden_dir, "tiny_dino_vit8.pt", "tiny DINO checkpoint")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Downloads may only reach 127.0.0.1 (a test's local server), and the cache is a fresh tmp folder."""
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        full = url if isinstance(url, str) else url.full_url
        if urllib.parse.urlsplit(full).hostname != "127.0.0.1":
            raise AssertionError(f"a test tried to reach the network: {full}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "clip-cache"))


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


class LocalServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1 and records every request path.

    A path in ``cut`` announces its full length and sends only half: a
    connection dropped mid-file.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.cut else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # a short poll: shutdown() waits for the loop to notice, 0.5 s by default, paid by every test using it
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Shut the server down (again: no-op); later requests are refused."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)


@pytest.fixture
def local_server():
    """A :class:`LocalServer` in a thread, shut down after the test."""
    server = LocalServer()
    yield server
    server.stop()
