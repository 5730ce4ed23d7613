"""The studio's piano roll in a real browser (headless Debian Chromium, selenium), driven with the mouse and
the keyboard as a person would: draw four notes, type their lyrics, hear the render and check the sung pitch
against the drawn notes; drag a note up a whole tone and see only its phrase re-rendered, the pitch following;
paste a lyric line, undo it, reload the page and find the melody still there; import a MusicXML file and
save it again with the same notes.

Needs ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``); skipped
without them. ``VOCALSYNTH_STUDIO_SCREENSHOT=path.png`` keeps a screenshot of the studio after a render.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from demo_harness import chromium, needs_chromium, serve_demo

TIMEOUT = 90  # seconds for any one wait: a render on a busy 2-core machine
pytestmark = needs_chromium
PITCHES = [60, 62, 64, 65]  # C4 D4 E4 F4: inside the default voice's range, so no key shift
BEATS = [0, 1, 3, 4]  # a one-beat rest after the second note: two phrases
TYPED = [("C4", 0.0, 1.0, "la"), ("D4", 1.0, 1.0, "li"), ("E4", 3.0, 1.0, "lu"), ("F4", 4.0, 1.0, "le")]
PASTED = [("C4", 0.0, 1.0, "hap"), ("D4", 1.0, 1.0, "py"), ("E4", 3.0, 1.0, "birth"), ("F4", 4.0, 1.0, "day")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    driver = chromium("1400,1800", "--autoplay-policy=no-user-gesture-required")
    yield driver
    driver.quit()


# --- helpers: the page as a person sees it -------------------------------------------------------------------


def tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.XPATH, f"//button[@role='tab' and contains(., '{name}')]").click()


def wait_for(browser, condition, timeout: float = TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda d: condition() or None)


def status(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, "#studio .vs-status").text


def status_data(browser, key: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, "#studio .vs-status").get_attribute(f"data-{key}") or ""


def canvas(browser):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, "#studio canvas")


def offset(browser, beat: float, pitch: int) -> tuple[int, int]:
    """Mouse offset from the canvas centre (selenium's origin) of the middle of ``pitch``'s row at ``beat``."""
    el = canvas(browser)
    # wholly in view: selenium aims from the centre of the element's visible part
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    view = json.loads(el.get_attribute("data-view"))
    x = view["keyw"] + (beat - view["x0"]) * view["ppb"]
    y = view["ruler"] + (view["top"] - pitch + 0.5) * view["rowH"]
    return round(x - el.size["width"] / 2), round(y - el.size["height"] / 2)


def open_studio(browser, server: str, *, auto: bool = True) -> None:
    """A fresh page with an empty roll (this browser's saved work forgotten)."""
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#studio canvas[data-view]"))
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#studio canvas[data-view]"))
    box = browser.find_element(By.CSS_SELECTOR, "#studio .vs-auto")
    if box.is_selected() != auto:
        box.click()
    browser.find_element(By.CSS_SELECTOR, "#studio button[data-act=new]").click()
    wait_for(browser, lambda: status(browser).startswith("0 notes"))


def draw_notes(browser, beats=BEATS, pitches=PITCHES) -> None:
    """Drag out one quarter note per (beat, pitch) on the grid, as a person draws them."""
    from selenium.webdriver.common.action_chains import ActionChains

    for beat, pitch in zip(beats, pitches, strict=True):
        x, y = offset(browser, beat + 0.05, pitch)
        x_end, _ = offset(browser, beat + 0.95, pitch)
        ActionChains(browser).move_to_element_with_offset(
            canvas(browser), x, y
        ).click_and_hold().move_by_offset(x_end - x, 0).release().perform()
    wait_for(browser, lambda: status(browser).startswith(f"{len(beats)} notes"))


def double_click_note(browser, beat: float, pitch: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = offset(browser, beat + 0.5, pitch)
    ActionChains(browser).move_to_element_with_offset(canvas(browser), x, y).double_click().perform()


def type_lyrics(browser, lyrics: list[str]) -> None:
    """Double-click the first note and type each syllable, Tab to the next note, Enter after the last."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    double_click_note(browser, BEATS[0], PITCHES[0])
    chain = ActionChains(browser)
    for k, syllable in enumerate(lyrics):
        chain.send_keys(syllable, Keys.ENTER if k == len(lyrics) - 1 else Keys.TAB)
    chain.perform()


def notation_notes(browser) -> list[tuple[str, float, float, str]] | None:
    """The notes the notation box holds now (it follows the roll): name, start beat, length, lyric."""
    from selenium.webdriver.common.by import By

    from vocalsynth import ScoreError, load_score

    text = browser.find_element(By.CSS_SELECTOR, "#notation textarea").get_attribute("value")
    try:
        notes = load_score(text, format="text").sung_notes
    except ScoreError:
        return None
    return [(n.name, n.start_beat, n.duration_beats, n.lyric) for n in notes]


def wait_for_notes(browser, expected: list) -> None:
    """Wait until the notation box holds ``expected`` (see `notation_notes`); fail showing what it holds."""
    from selenium.common.exceptions import TimeoutException

    try:
        wait_for(browser, lambda: notation_notes(browser) == expected, timeout=30)
    except TimeoutException:
        assert notation_notes(browser) == expected


def report_rows(browser) -> list[tuple[str, str, float]]:
    """(written pitch, lyric, cents) of each row of the report's conformance table (a voiced note's)."""
    from selenium.webdriver.common.by import By

    rows = []
    for tr in browser.find_elements(By.CSS_SELECTOR, "#report table tbody tr"):
        cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        pitch, _, lyric = cells[2].partition(" ")
        rows.append((pitch, lyric, float(cells[4]) if cells[4] else float("nan")))
    return rows


# --- the tests -----------------------------------------------------------------------------------------------


def test_draw_type_render_and_drag_a_note_up_a_whole_tone(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    open_studio(browser, server)
    draw_notes(browser)
    type_lyrics(browser, ["la", "li", "lu", "le"])
    wait_for_notes(browser, TYPED)
    # auto-render: the audio comes back and plays; the rendered F0 is measured on each drawn note
    wait_for(
        browser, lambda: "heard" in status(browser) and "4 of 4 notes sung within 50 cents" in status(browser)
    )
    sung = json.loads(status_data(browser, "sung"))
    assert [round(s["pitch"]) for s in sung] == PITCHES
    assert all(abs(s["cents"]) <= 50 for s in sung), sung

    # drag the last note (F4, second phrase) up two rows: only its phrase is sung again, on G4
    wait_for(browser, lambda: "heard" in status(browser))
    view = json.loads(canvas(browser).get_attribute("data-view"))
    x, y = offset(browser, BEATS[3] + 0.5, PITCHES[3])
    ActionChains(browser).move_to_element_with_offset(canvas(browser), x, y).click_and_hold().move_by_offset(
        0, -view["rowH"] // 2
    ).move_by_offset(0, -view["rowH"] * 3 // 2).release().perform()
    wait_for_notes(browser, [*TYPED[:3], ("G4", 4.0, 1.0, "le")])
    wait_for(
        browser,
        lambda: (
            json.loads(status_data(browser, "sung") or "[]")[3:4]
            and round(json.loads(status_data(browser, "sung"))[3]["pitch"]) == 67
        ),
    )
    assert json.loads(status_data(browser, "rerendered")) == [1] and status_data(browser, "phrases") == "2"
    assert "1 of 2 phrase(s) re-rendered" in status(browser)
    with urllib.request.urlopen(server.rstrip("/") + status_data(browser, "url"), timeout=30) as response:
        assert response.read(4) == b"RIFF"  # the audio the roll plays is the WAV of that render


@pytest.mark.slow  # the full Render measures the pitch on the audio (WORLD harvest): ~10 s more on 2 busy cores
def test_the_render_buttons_conformance_on_the_audio_matches_the_drawn_notes(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    open_studio(browser, server, auto=False)
    draw_notes(browser)
    type_lyrics(browser, ["la", "li", "lu", "le"])
    wait_for_notes(browser, TYPED)
    browser.find_element(By.ID, "render").click()
    wait_for(browser, lambda: "Conformance" in browser.find_element(By.ID, "report").text)
    rows = report_rows(browser)
    assert [(p, lyric) for p, lyric, _ in rows] == [("C4", "la"), ("D4", "li"), ("E4", "lu"), ("F4", "le")]
    assert all(abs(c) <= 50 for _, _, c in rows), rows
    shot = tmp_path / "studio.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get("VOCALSYNTH_STUDIO_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["VOCALSYNTH_STUDIO_SCREENSHOT"])


def test_paste_a_lyric_line_undo_it_and_reload_the_page(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_studio(browser, server, auto=False)
    draw_notes(browser)
    type_lyrics(browser, ["la", "li", "lu", "le"])
    wait_for_notes(browser, TYPED)

    # copy a line of lyrics from elsewhere, paste it on the first note: one syllable per note
    scratch = browser.execute_script(
        "const t = document.createElement('textarea'); t.id = 'scratch'; document.body.appendChild(t); return t;"
    )
    scratch.send_keys("hap-py birth-day")
    scratch.send_keys(Keys.CONTROL, "a")
    scratch.send_keys(Keys.CONTROL, "c")
    double_click_note(browser, BEATS[0], PITCHES[0])
    box = browser.find_element(By.CSS_SELECTOR, "#studio .vs-lyric")
    wait_for(browser, box.is_displayed)
    box.send_keys(Keys.CONTROL, "v")
    wait_for_notes(browser, PASTED)

    # undo puts the typed lyrics back, redo the pasted ones; both are what the roll keeps
    studio = browser.find_element(By.CSS_SELECTOR, "#studio .vs-studio")
    studio.send_keys(Keys.CONTROL, "z")
    wait_for_notes(browser, TYPED)
    studio.send_keys(Keys.CONTROL, "y")
    wait_for_notes(browser, PASTED)

    # a reload keeps the melody (this browser's storage) and the notation box follows it again
    browser.refresh()
    wait_for(browser, lambda: "restored" in status(browser))
    assert status(browser).startswith("4 notes")
    wait_for_notes(browser, PASTED)


def _musicxml_to_import(tmp_path: Path) -> Path:
    """A real outside MusicXML file when the shared scores are here, else one written by vocalsynth."""
    from vocalsynth import load_score, save_score

    shared = Path("/work/shared/scores/musicxml")
    for path in sorted(shared.glob("*.musicxml")) + sorted(shared.glob("*.xml")) if shared.is_dir() else []:
        try:
            score = load_score(path)
        except Exception:
            continue
        if 4 <= len(score.sung_notes) <= 400 and path.stat().st_size < 2_000_000:
            return path
    song = 'title="Import" tempo=100 lang=ja C4/4 か D4/8 え E4 る F4/4 の | G4/2 う R/4 E4 た |'
    return save_score(load_score(song, format="text"), tmp_path / "import.musicxml")


def test_import_a_musicxml_file_and_save_it_again_with_the_same_notes(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from vocalsynth import load_score

    source = _musicxml_to_import(tmp_path)
    original = load_score(source)
    open_studio(browser, server, auto=False)
    tab(browser, "Upload a score")
    browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(source))
    wait_for(browser, lambda: status(browser).startswith(f"{len(original.sung_notes)} notes"))

    browser.find_element(By.ID, "export").click()
    link = wait_for(
        browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#exported a[href*='.musicxml']")
    )[0]
    saved = tmp_path / "saved.musicxml"
    with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
        saved.write_bytes(response.read())
    again = load_score(saved)

    def notes(score):
        return [
            (n.pitch, round(n.start_beat, 3), round(n.duration_beats, 3), n.lyric, n.slur)
            for n in score.sung_notes
        ]

    assert notes(again) == notes(original)
    assert [(round(t.beat, 3), round(t.bpm, 3)) for t in again.tempos] == [
        (round(t.beat, 3), round(t.bpm, 3)) for t in original.tempos
    ]
