"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: its models are tiny, and on a busy 2-core machine two threads
    spin-wait for each other (a 4 s song took 8 s to render with two threads and 0.2 s with one).
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def whisper_cache(tmp_path_factory):
    """The assembled Whisper model goes to a folder of the test session, not the user's cache."""
    import os

    folder = tmp_path_factory.mktemp("vocalsynth-cache")
    before = os.environ.get("VOCALSYNTH_CACHE")
    os.environ["VOCALSYNTH_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("VOCALSYNTH_CACHE", None)
    else:
        os.environ["VOCALSYNTH_CACHE"] = before
