"""Language names and detection from the script of the lyrics (kana -> ja, hanzi -> zh, Latin -> en).

Latin lyrics default to English; the whole score's Latin lyrics are read as pinyin (or romaji) only
when at least 80 % of them parse as pinyin (romaji) and more of them parse so than as romaji (pinyin).
Hanzi in a score that also has kana are Japanese kanji; a Latin lyric in a score with hanzi (kana)
is pinyin (romaji) when it parses as such.
"""

from __future__ import annotations

import unicodedata

from vocalsynth.text import ja, zh
from vocalsynth.text.errors import G2PError

_ALIASES = {
    "en": "en",
    "eng": "en",
    "english": "en",
    "en-us": "en",
    "en_us": "en",
    "en-gb": "en",
    "en_gb": "en",
    "ja": "ja",
    "jp": "ja",
    "jpn": "ja",
    "japanese": "ja",
    "ja-jp": "ja",
    "ja_jp": "ja",
    "zh": "zh",
    "cmn": "zh",
    "zho": "zh",
    "chi": "zh",
    "chinese": "zh",
    "mandarin": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
    "zh-hans": "zh",
    "zh-tw": "zh",
    "zh-hant": "zh",
}
LATIN_THRESHOLD = 0.8

KANA, HANZI, LATIN, OTHER = "kana", "hanzi", "latin", "other"


def normalize_language(name: str | None) -> str | None:
    """'English', 'en-US', 'jpn', 'zh-CN' ... -> 'en' / 'ja' / 'zh'; None for None, '' or a language we don't sing."""
    if not name:
        return None
    return _ALIASES.get(name.strip().lower())


def script(text: str) -> str | None:
    """The script a lyric is written in: 'kana', 'hanzi', 'latin', 'other', or None when it has no letters."""
    has_hanzi = False
    has_latin = False
    has_other = False
    for ch in unicodedata.normalize("NFKC", text):
        if ja.is_kana(ch) and ch not in "ー":
            return KANA
        if zh.is_hanzi(ch):
            has_hanzi = True
        elif ch.isascii() and ch.isalpha() or "LATIN" in unicodedata.name(ch, ""):
            has_latin = True
        elif ch.isalpha():
            has_other = True
    if has_hanzi:
        return HANZI
    if has_latin:
        return LATIN
    return OTHER if has_other else None


def _parses(reader, text: str) -> bool:
    try:
        reader(text)
    except G2PError:
        return False
    return True


def latin_language(lyrics: list[str]) -> str:
    """The language of a score's Latin lyrics: 'en' unless they read clearly as pinyin ('zh') or romaji ('ja')."""
    words = [t for t in lyrics if script(t) == LATIN]
    if len(words) < 2:
        return "en"
    pinyin = sum(_parses(zh.g2p, w) for w in words) / len(words)
    romaji = sum(_parses(ja.g2p, w) for w in words) / len(words)
    if pinyin >= LATIN_THRESHOLD and pinyin > romaji:
        return "zh"
    if romaji >= LATIN_THRESHOLD and romaji > pinyin:
        return "ja"
    return "en"


class Detector:
    """Per-note language from the lyric's script, with score-wide context (kana present, Latin reading)."""

    def __init__(self, lyrics: list[str]):
        scripts = [script(t) for t in lyrics]
        self.hanzi_language = "ja" if KANA in scripts else "zh"
        self._has_cjk = KANA in scripts or HANZI in scripts
        self._lyrics = lyrics
        self._latin: str | None = None
        counts = {KANA: 0, HANZI: 0, LATIN: 0}
        for s in scripts:
            if s in counts:
                counts[s] += 1
        top = max(counts, key=lambda k: counts[k])
        self._top_script = top if counts[top] else LATIN

    @property
    def latin_language(self) -> str:
        if self._latin is None:  # parsing every Latin lyric twice is only worth it when one is asked about
            self._latin = latin_language(self._lyrics)
        return self._latin

    def language(self, lyric: str) -> str:
        s = script(lyric) or OTHER
        if s == OTHER:
            s = self._top_script
        if s == KANA:
            return "ja"
        if s == HANZI:
            return self.hanzi_language
        if self._has_cjk:
            # a Latin lyric among hanzi or kana is pinyin or romaji when it reads as one
            reader = zh.g2p if self.hanzi_language == "zh" else ja.g2p
            if _parses(reader, lyric):
                return self.hanzi_language
        return self.latin_language


def detect_language(lyrics: list[str]) -> str:
    """The main language of a list of lyrics (the one most notes would be read in)."""
    d = Detector(lyrics)
    votes: dict[str, int] = {}
    for t in lyrics:
        if script(t):
            lang = d.language(t)
            votes[lang] = votes.get(lang, 0) + 1
    return max(votes, key=lambda k: votes[k]) if votes else "en"
