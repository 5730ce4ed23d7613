"""What the demo's browser and load tests share: a free port, the demo served in-process, and headless Debian
Chromium driven by selenium (skipped where ``chromium``/``chromedriver`` are absent)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_demo(tmp_path_factory):
    """Generator for a module fixture: the demo on a free port (one torch thread), its URL, then closed."""
    import torch

    from vocalsynth.demo.app import launch
    from vocalsynth.demo.handlers import Demo
    from vocalsynth.voices import VOICES_DIR

    if not (VOICES_DIR / "default" / "voice.yaml").is_file():
        pytest.skip("the bundled default voice is absent")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    port = free_port()
    app = launch(Demo(output_dir=tmp_path_factory.mktemp("out")), port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    torch.set_num_threads(threads)


def chromium(window_size: str, *extra_args: str, capabilities: dict | None = None):
    """A headless Chromium selenium driver of ``window_size`` ("W,H")."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window_size}"):
        options.add_argument(arg)
    for arg in extra_args:
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    for key, value in (capabilities or {}).items():
        options.set_capability(key, value)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
