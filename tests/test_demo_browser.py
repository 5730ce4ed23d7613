"""The demo in a real browser: headless Debian Chromium opens the page, types a melody into the notation box,
sees the note table follow, presses Render, waits for the audio, checks the plot, the report and the
downloads, fetches the WAV and finds its AI-generated label, and saves a screenshot.

Needs ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``); skipped
without them. ``VOCALSYNTH_DEMO_SCREENSHOT=path.png`` keeps a copy of the screenshot there.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest
from demo_harness import chromium, needs_chromium, serve_demo

pytestmark = needs_chromium
MELODY = 'title="Typed" tempo=132 lang=en C5/4 la D5 la E5/2 la'
TIMEOUT = 90  # seconds for any one wait: a render on a busy 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    # the performance log, to see every request the page makes
    driver = chromium("1400,2600", capabilities={"goog:loggingPrefs": {"performance": "ALL"}})
    yield driver
    driver.quit()


def external_requests(browser, server: str) -> set[str]:
    """URLs the page requested from anywhere but the demo's server (from Chromium's performance log)."""
    urls = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith((server, "data:", "blob:")):
                urls.add(url)
    return urls


def fresh_page(browser, server: str) -> None:
    """The page as a first-time visitor gets it: without the studio's work in progress from this browser's
    storage (an earlier test's melody would be restored into the roll and the notation box)."""
    browser.get(server)
    browser.execute_script("localStorage.clear()")
    browser.refresh()


def tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.XPATH, f"//button[@role='tab' and contains(., '{name}')]").click()


def test_type_a_melody_render_it_and_get_audio_plot_report_and_downloads(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from vocalsynth.synthesis import read_label

    wait = WebDriverWait(browser, TIMEOUT)
    fresh_page(browser, server)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#notation textarea"))
    assert browser.title == "vocalsynth — make a vocal"
    assert "title=" in box.get_attribute("value")  # it opens on an example song
    card = browser.find_element(By.ID, "voice-summary").get_attribute("textContent")
    assert "range A#2–G4" in card and "Licence:" in card and "Trained on:" in card

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(MELODY)
    status = wait.until(
        lambda d: (
            d.find_element(By.ID, "score-status").text
            if "3 notes" in d.find_element(By.ID, "score-status").text
            else None
        )
    )
    assert "written C5–E5, sung C4–E4 (key shift -12)" in status
    assert (
        browser.find_element(By.CSS_SELECTOR, "#control-key_shift input[type=number]").get_attribute("value")
        == "-12"
    )
    tab(browser, "Note table")
    table = wait.until(lambda d: d.find_element(By.ID, "note-table").get_attribute("textContent"))
    assert "C5" in table and "E5" in table and 'title="Typed"' in table  # the table followed the typing
    tab(browser, "Notation")

    browser.find_element(By.ID, "render").click()
    link = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#audio a[download$='.wav']"))[0]
    plot = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#render-plot img"))[0]
    assert plot.get_attribute("src").startswith("data:image/")  # the matplotlib figure, inlined
    assert plot.size["width"] > 300 and plot.size["height"] > 150
    report = wait.until(lambda d: d.find_element(By.ID, "report").text or None)
    assert "AI-generated" in report and "Conformance" in report and "key shift -12" in report
    downloads = browser.find_element(By.ID, "downloads").text
    for name in ("Typed", ".wav", ".mid", ".ustx", ".ds"):
        assert name in downloads

    wav = tmp_path / "Typed.wav"
    with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
        wav.write_bytes(response.read())
    label = read_label(wav)
    assert label["ai_generated"] and label["voice"] == "default" and label["metadata"]["title"] == "Typed"

    assert (
        external_requests(browser, server) == set()
    )  # offline: no fonts, analytics or scripts from elsewhere

    shot = tmp_path / "demo.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("VOCALSYNTH_DEMO_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["VOCALSYNTH_DEMO_SCREENSHOT"])


def test_a_bad_melody_is_explained_on_the_page_not_rendered(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_page(browser, server)
    box = WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#notation textarea")
    )
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys("C4/4 la H4 la")
    status = WebDriverWait(browser, TIMEOUT).until(
        lambda d: (
            d.find_element(By.ID, "score-status").text
            if "H4" in d.find_element(By.ID, "score-status").text
            else None
        )
    )
    assert "notation: line 1, token 3 'H4': bad pitch 'H4'" in status
    browser.find_element(By.ID, "render").click()
    toast = WebDriverWait(browser, TIMEOUT).until(
        lambda d: (
            " ".join(e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, ".toast-body"))
            or None
        )
    )
    assert "bad pitch 'H4'" in toast
    assert not browser.find_elements(By.CSS_SELECTOR, "#audio a[download]")


def test_an_uploaded_score_fills_the_notation_and_the_status(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from vocalsynth import load_score, save_score

    midi = save_score(
        load_score('title="Up" tempo=120 lang=ja C5/4 ら D5 り E5/2 る', format="text"), tmp_path / "up.mid"
    )
    wait = WebDriverWait(browser, TIMEOUT)
    fresh_page(browser, server)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#notation textarea"))
    tab(browser, "Upload a score")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type=file]")).send_keys(str(midi))
    status = wait.until(
        lambda d: (
            d.find_element(By.ID, "score-status").text
            if "from up.mid" in d.find_element(By.ID, "score-status").text
            else None
        )
    )
    assert "3 notes" in status and "sung C4–E4" in status
    tab(browser, "Notation")
    text = browser.find_element(By.CSS_SELECTOR, "#notation textarea").get_attribute("value")
    assert [n.name for n in load_score(text, format="text").sung_notes] == ["C5", "D5", "E5"]
