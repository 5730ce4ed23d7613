"""The served demo through `gradio_client`: the ``sing`` API returns a labelled WAV, bad input and what is past
the limits (an oversized upload, an over-long song, a server path, a wrong file type) is refused with a
message, and concurrent requests each get audio or a clear "busy" answer while the server stays up.

The default run uses a server in this process and 3 concurrent requests; the ``slow`` test starts
``python -m vocalsynth.demo`` as its own process, sends 20 concurrent requests on loopback and measures the
server's peak memory (run it with ``pytest -m slow -s tests/test_demo_load.py`` to see the figures).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf
from demo_harness import free_port

from vocalsynth.demo import DemoLimits
from vocalsynth.voices import VOICES_DIR

pytestmark = pytest.mark.skipif(
    not (VOICES_DIR / "default" / "voice.yaml").is_file(), reason="the bundled default voice is absent"
)
ROOT = Path(__file__).resolve().parents[1]
BUSY = re.compile(r"queue is full", re.IGNORECASE)
TUNE = "tempo=180 lang=ja {} E4/4 り G4/2 る"  # about 1.3 s; the start varies so no render is cached
PEAK_RSS_LIMIT_MB = 1500  # the server (torch + gradio + one voice) peaked at 553 MB in the slow test


def tune(i: int) -> str:
    """The ``i``-th of 20 different short tunes."""
    first = ["C4", "D4", "B3", "A3", "F4"][i % 5] + "/4 ら"
    return TUNE.format(first + ("" if i < 5 else f" R/{2 ** (i // 5 + 1)}"))


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def check_wav(path: str) -> float:
    """A readable WAV labelled AI-generated; its duration in seconds."""
    from vocalsynth.synthesis import read_label

    info = sf.info(path)
    assert info.format == "WAV" and info.samplerate == 24000 and info.frames > 0
    label = read_label(path)
    assert label["ai_generated"] and label["voice"] == "default"
    return info.frames / info.samplerate


def burst(url: str, n: int, timeout: float) -> dict[str, list]:
    """``n`` clients, released together, each asking ``sing`` for a different tune; what each got back."""
    from gradio_client import Client

    outcome: dict[str, list] = {"served": [], "busy": [], "other": []}
    lock = threading.Lock()
    ready = threading.Barrier(n)

    def one(i: int) -> None:
        try:
            c = Client(url, verbose=False)
            ready.wait(timeout=60)
            result = c.submit(notation=tune(i), api_name="/sing").result(timeout=timeout)
            kind, value = "served", result
        except Exception as e:  # the client raises for a refusal; sort it by its message
            kind, value = ("busy" if BUSY.search(str(e)) else "other"), f"{type(e).__name__}: {e}"
        with lock:
            outcome[kind].append(value)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 90)
    return outcome


# --- a server in this process (default run) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import torch

    from vocalsynth.demo.app import launch
    from vocalsynth.demo.handlers import Demo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    limits = DemoLimits(max_upload_bytes=64 * 1024, max_song_seconds=20, concurrency=1, queue_size=1)
    port = free_port()
    app = launch(Demo(limits, output_dir=tmp_path_factory.mktemp("out")), port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    torch.set_num_threads(threads)


def test_sing_through_gradio_client_gives_a_labelled_wav(served):
    c = client(served)
    assert "/sing" in c.view_api(return_format="dict", print_info=False)["named_endpoints"]
    seconds = check_wav(c.predict(notation=tune(0), api_name="/sing"))
    assert 1.3 <= seconds <= 1.9  # four beats at 180 bpm plus the pre-roll


def test_sing_takes_an_uploaded_score_file_and_the_controls(served, tmp_path):
    from gradio_client import handle_file

    from vocalsynth import load_score, save_score
    from vocalsynth.synthesis import read_label

    ustx = save_score(load_score(tune(1), format="text"), tmp_path / "tune.ustx")
    wav = client(served).predict(
        score_file=handle_file(str(ustx)), fit_range=False, key_shift=-3, tempo=1.5, api_name="/sing"
    )
    assert read_label(wav)["controls"] == "tempo:1.5,key_shift:-3"
    assert 0.8 <= check_wav(wav) <= 1.4  # 1.33 s of score at 1.5 times the tempo, plus the pre-roll


def test_bad_and_oversized_input_is_refused_with_a_message(served, tmp_path):
    from gradio_client import handle_file

    c = client(served)
    with pytest.raises(Exception, match=r"notation: line 1, token 3 'H4': bad pitch"):
        c.predict(notation="C4/4 la H4 la", api_name="/sing")
    long_song = "tempo=60 lang=ja " + " ".join(["C4/1 ら"] * 6)  # 24 s, the limit here is 20
    with pytest.raises(Exception, match=r"the song would last 24\.0 s; the demo renders songs up to 20 s"):
        c.predict(notation=long_song, api_name="/sing")
    with pytest.raises(Exception, match="give a score file or notation text"):
        c.predict(api_name="/sing")
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4")
    with pytest.raises(Exception, match="Invalid file type"):
        c.predict(score_file=handle_file(str(notes)), api_name="/sing")
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd" + bytes(200 * 1024))
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        c.predict(score_file=handle_file(str(big)), api_name="/sing")


def test_the_server_refuses_an_oversized_upload_itself(served):
    """Past the client's own check: a raw multipart upload over the limit gets HTTP 413 and a message."""
    boundary = "vocalsynthboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mid"\r\n'
            "Content-Type: audio/midi\r\n\r\n"
        ).encode()
        + b"MThd"
        + bytes(200 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        served + "gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 413
    assert "maximum" in e.value.read().decode("utf-8", "replace").lower()


def call_sing(url: str, score_file: object, notation: str | None) -> str:
    """``sing`` through Gradio's plain HTTP API (no client library to upload files for us): the event stream."""
    # score, notation, voice, language, fit, key, tempo, vibrato, rate, breath, tension, gender, dynamics, pitch
    data = [score_file, notation, "default", "auto", True, 0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5]
    request = urllib.request.Request(
        url + "gradio_api/call/sing",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/sing/{event}", timeout=120) as response:
        return response.read().decode("utf-8")


def test_a_server_path_is_not_a_score_a_visitor_can_name(served):
    """A visitor hands in only what they uploaded: naming a file on the server is refused before any handler
    sees it, the server doesn't serve its own files, and notation text that looks like a path is notation."""
    for path in (ROOT / "examples" / "hello_en.txt", ROOT / "README.md", Path("/etc/passwd")):
        stream = call_sing(served, {"path": str(path), "meta": {"_type": "gradio.FileData"}}, None)
        assert "event: error" in stream and "was not uploaded by a user" in stream, stream
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{served}gradio_api/file={path}", timeout=30)
        assert e.value.code == 403
    stream = call_sing(served, None, str(ROOT / "examples" / "hello_en.txt"))
    assert "event: error" in stream and "notation: line 1" in stream
    assert "event: complete" in call_sing(served, None, tune(2))  # the plain HTTP call itself works


def test_three_concurrent_requests_get_audio_or_busy_and_the_server_stays_up(served):
    outcome = burst(served, 3, timeout=120)
    print(
        f"\n3 concurrent: served {len(outcome['served'])}, busy {len(outcome['busy'])}, other {outcome['other']}"
    )
    assert not outcome["other"]
    assert len(outcome["served"]) + len(outcome["busy"]) == 3 and outcome["served"]
    for wav in outcome["served"]:
        check_wav(wav)
    check_wav(client(served).predict(notation=tune(4), api_name="/sing"))  # still serving


# --- a server process under 20 concurrent requests (slow) ---------------------------------------------------


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of process ``pid`` in MB (``VmHWM``: its peak so far)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to measure memory")
def test_twenty_concurrent_requests_against_a_server_process(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", TMPDIR=str(tmp_path))
    argv = [sys.executable, "-m", "vocalsynth.demo", "--port", str(port), "--threads", "1"]
    argv += ["--concurrency", "1", "--queue-size", "4", "--max-seconds", "20", "--max-upload-mb", "0.0625"]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.perf_counter()
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=5).close()
                break
            except OSError:
                assert time.perf_counter() - started < 180, "the server did not come up in 3 minutes"
                time.sleep(0.5)
        startup = time.perf_counter() - started
        idle = rss_mb(server.pid)

        t0 = time.perf_counter()
        outcome = burst(url, 20, timeout=240)
        wall = time.perf_counter() - t0
        assert server.poll() is None, "the server died under load"
        peak = rss_mb(server.pid, "VmHWM")

        c = client(url)
        check_wav(c.predict(notation=tune(3), api_name="/sing"))  # still serving after the burst
        with pytest.raises(Exception, match="exceeds the maximum file size"):
            from gradio_client import handle_file

            big = tmp_path / "big.mid"
            big.write_bytes(b"MThd" + bytes(100 * 1024))
            c.predict(score_file=handle_file(str(big)), api_name="/sing")
        with pytest.raises(Exception, match="the song would last 24.0 s"):
            c.predict(notation="tempo=60 lang=ja " + " ".join(["C4/1 ら"] * 6), api_name="/sing")
        assert server.poll() is None
        print(
            f"\nload test: 20 concurrent sing requests on loopback (concurrency 1, queue 4): "
            f"served {len(outcome['served'])}, busy {len(outcome['busy'])}, other {len(outcome['other'])} "
            f"in {wall:.1f} s; server RSS idle {idle:.0f} MB, peak {peak:.0f} MB (VmHWM); startup {startup:.1f} s"
        )
        assert not outcome["other"], outcome["other"]
        assert len(outcome["served"]) + len(outcome["busy"]) == 20
        assert outcome["served"] and outcome["busy"]  # the queue bound was reached and work still got done
        for wav in outcome["served"]:
            check_wav(wav)
        assert peak < PEAK_RSS_LIMIT_MB
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
