"""`phonemize_score`: a `Score` -> `PhonemeSequence` (language per note, hints, G2P, words over notes, timing).

Unreadable lyrics get a fallback vowel and a warning naming the note (or a ScoreError with ``strict=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Score
from vocalsynth.score.validate import validate
from vocalsynth.text import detect, en, inventory, ja, zh
from vocalsynth.text.align import Group, Ph, roles, time_groups
from vocalsynth.text.errors import G2PError
from vocalsynth.text.sequence import NUCLEUS, NoteInfo, PhonemeSequence

# sung instead of a lyric that can't be read
FALLBACK = {"ja": ["ja/a"], "zh": ["zh/a"], "en": ["en/aa"]}
# lyrics that continue the previous syllable (melisma): UTAU/OpenUtau '+', karaoke '-', '_', '~'
EXTENDERS = frozenset({"+", "-", "_", "~", "+~", "…", "〜", "～"})
BREATH_LYRICS = frozenset({"AP", "br", "breath", "息", "吸"})  # 息/吸: UTAU breath samples
REST_LYRICS = frozenset({"SP", "R", "pau", "sil"})  # R: an UTAU rest
GAP = 1e-9
# a melisma note holds the vowel of the last sung note across rests this short (MIDI articulation gaps)
HOLD_ACROSS_REST = 0.3

_HINT_MAPPERS = {"ja": ja.map_hint, "zh": zh.map_hint, "en": en.map_hint}


@dataclass
class _Slot:
    """What the frontend has decided so far for one score note."""

    kind: str  # 'rest', 'hold', 'sing', 'ja', 'zh', 'en' (the last three: G2P still to do)
    language: str
    phones: list[Ph] = field(default_factory=list)
    implicit_hold: bool = False  # a sung note without a lyric: hold if there is something to hold


class _Frontend:
    def __init__(self, score: Score, language: str | None, strict: bool):
        self.score = score
        self.strict = strict
        self.warnings: list[tuple[int, str]] = []
        self.caller = None
        if language is not None:
            self.caller = detect.normalize_language(language)
            if self.caller is None:
                raise ScoreError(
                    f"language {language!r} is not one vocalsynth sings (en, ja, zh)", source=score.source
                )
        self.score_language = detect.normalize_language(score.language)
        if score.language and self.score_language is None and self.caller is None:
            self.warnings.append(
                (
                    -1,
                    f"score language {score.language!r} is not sung (en, ja, zh): languages detected from the lyrics",
                )
            )
        self.detector = detect.Detector([n.lyric for n in score.notes if not n.is_rest and not n.language])
        self._bad_languages: set[str] = set()

    # --- helpers ---------------------------------------------------------------------------------

    def where(self, i: int) -> str:
        n = self.score.notes[i]
        return n.where or f"note {i + 1}"

    def unreadable(self, i: int, language: str, reason: str, *, lyric: str | None = None) -> list[Ph]:
        """Warn (or raise when strict) about note i's lyric and return the fallback to sing."""
        lyric = self.score.notes[i].lyric if lyric is None else lyric
        detail = f"lyric {lyric!r} ({language}): {reason}"
        if self.strict:
            raise ScoreError(detail, source=self.score.source, where=self.where(i))
        fallback = FALLBACK[language]
        self.warnings.append((i, f"{self.where(i)}: {detail}; sang {' '.join(fallback)} instead"))
        return [Ph(s, language) for s in fallback]

    def note_language(self, i: int, note: Note) -> str:
        if note.language:
            lang = detect.normalize_language(note.language)
            if lang:
                return lang
            if note.language not in self._bad_languages:
                self._bad_languages.add(note.language)
                self.warnings.append(
                    (i, f"{self.where(i)}: language {note.language!r} is not sung (en, ja, zh); used another")
                )
        return self.caller or self.score_language or self.detector.language(note.lyric)

    # --- passes ----------------------------------------------------------------------------------

    def classify(self, i: int, note: Note) -> _Slot:
        lang = self.note_language(i, note)
        lyric = note.lyric.strip()
        if note.is_rest or lyric in REST_LYRICS or lyric in BREATH_LYRICS:
            hint = [t for t in (note.phonemes or []) if t.strip()]
            if hint and all(t.strip() in (inventory.SP, inventory.AP) for t in hint):
                return _Slot("rest", lang, [Ph(t.strip(), None) for t in hint])
            return _Slot("rest", lang, [Ph(inventory.AP if lyric in BREATH_LYRICS else inventory.SP, None)])
        # a slurred note that still carries its own lyric is a new syllable under a phrasing slur
        if (note.slur and not lyric) or lyric in EXTENDERS or (lang == "ja" and ja.is_long_mark(lyric)):
            return _Slot("hold", lang)
        if note.phonemes:
            mapped = _HINT_MAPPERS[lang](list(note.phonemes))
            if mapped:
                return _Slot("sing", lang, self._hint_phones(note, mapped, lang))
            detail = (
                f"phoneme hint {' '.join(note.phonemes)!r} is not in the {lang} inventory (docs/phonemes.md)"
            )
            if self.strict:
                raise ScoreError(detail, source=self.score.source, where=self.where(i))
            self.warnings.append((i, f"{self.where(i)}: {detail}; used the lyric {note.lyric!r} instead"))
        if not lyric:
            return _Slot("hold", lang, implicit_hold=True)
        return _Slot(lang, lang)

    @staticmethod
    def _hint_phones(note: Note, mapped: list[str], lang: str) -> list[Ph]:
        durs = note.phoneme_durations
        # the source's phoneme lengths are kept only when the hint mapped one to one
        use = durs is not None and len(durs) == len(mapped) == len(
            [t for t in note.phonemes or [] if t.strip()]
        )
        return [
            Ph(s, inventory.language_of(s) or lang, length=(float(durs[k]) if use else None))
            for k, s in enumerate(mapped)
        ]

    def english(self, slots: list[_Slot]) -> None:
        """Join English syllables of a word written over several notes, phonemize every word in one call."""
        notes = self.score.notes
        words: list[list[int]] = []
        continues = False
        for i, slot in enumerate(slots):
            if slot.kind != "en":
                continue
            raw, syl = notes[i].lyric.strip(), notes[i].syllabic
            joins = raw.startswith("-") or syl in ("middle", "end")
            if words and (continues or joins):
                words[-1].append(i)
            else:
                words.append([i])
            continues = raw.endswith("-") or syl in ("begin", "middle")
        if not words:
            return
        texts = ["".join(notes[i].lyric.strip().strip("-") for i in word) for word in words]
        results = en.phonemize_words(texts)
        for word, text, phones in zip(words, texts, results, strict=True):
            if not phones:
                reason = "no English word in it" if not en.clean(text) else "espeak could not read it"
                for i in word:
                    slots[i].kind = "sing"
                    slots[i].phones = self.unreadable(i, "en", reason)
                continue
            fragments = [notes[i].lyric.strip().strip("-") for i in word]
            for i, part in zip(word, en.split_word(phones, len(word), fragments), strict=True):
                if part is None:
                    slots[i].kind = "hold"
                else:
                    slots[i].kind = "sing"
                    slots[i].phones = [Ph(s, "en") for s in part]

    def mandarin(self, slots: list[_Slot]) -> None:
        notes = self.score.notes
        todo = [i for i, s in enumerate(slots) if s.kind == "zh"]
        if not todo:
            return
        # all the hanzi read together: pypinyin picks a polyphone's reading from the word around it
        readings = zh.hanzi_to_pinyin([notes[i].lyric for i in todo])
        for i, reading in zip(todo, readings, strict=True):
            try:
                phones, tones = zh.g2p(notes[i].lyric, pinyin_of_hanzi=reading if reading else None)
                slots[i].phones = [Ph(s, "zh", tone=t) for s, t in zip(phones, tones, strict=True)]
            except G2PError as e:
                slots[i].phones = self.unreadable(i, "zh", str(e))
            slots[i].kind = "sing"

    def in_order(self, slots: list[_Slot]) -> None:
        """Japanese G2P (it reads the previous note's vowel for ー and おう) and holds, note by note."""
        notes = self.score.notes
        for i, slot in enumerate(slots):
            prev = slots[i - 1] if i > 0 and notes[i - 1].end >= notes[i].start - 1e-4 else None
            held = _held(prev) if prev is not None and prev.kind in ("sing", "hold") else None
            if slot.kind == "ja":
                prev_vowel = held.symbol[3:] if held and held.symbol.startswith("ja/") else None
                try:
                    slot.phones = [Ph(s, "ja") for s in ja.g2p(notes[i].lyric, prev_vowel)]
                except G2PError as e:
                    slot.phones = self.unreadable(i, "ja", str(e))
                slot.kind = "sing"
            elif slot.kind == "hold":
                held = self._last_sung(slots, i)
                if held is not None:
                    slot.phones = [Ph(held.symbol, held.language, tone=held.tone)]
                else:
                    reason = (
                        "no lyric, and no sung note before it to hold"
                        if slot.implicit_hold
                        else ("a slur/melisma with no sung note before it to hold")
                    )
                    slot.phones = self.unreadable(i, slot.language, reason)
                    slot.kind = "sing"

    def _last_sung(self, slots: list[_Slot], i: int) -> Ph | None:
        """The phoneme note i would hold: the last nucleus of the sung note before it (short rests skipped)."""
        notes = self.score.notes
        rest = 0.0
        j = i - 1
        while j >= 0 and slots[j].kind == "rest":
            rest += notes[j].duration
            j -= 1
        if j < 0 or rest > HOLD_ACROSS_REST or slots[j].kind not in ("sing", "hold"):
            return None
        if notes[j].end < notes[i].start - rest - 1e-4:  # a gap the reader left unfilled
            return None
        return _held(slots[j])

    @staticmethod
    def move_codas(slots: list[_Slot]) -> None:
        """A syllable's coda consonants end the last note of its melisma, not its first note."""
        i = 0
        while i < len(slots):
            j = i
            while j + 1 < len(slots) and slots[j + 1].kind == "hold":
                j += 1
            if j > i and slots[i].kind == "sing":
                r = roles([p.symbol for p in slots[i].phones])
                coda = [p for p, x in zip(slots[i].phones, r, strict=True) if x == "coda"]
                if coda:
                    slots[i].phones = [p for p, x in zip(slots[i].phones, r, strict=True) if x != "coda"]
                    slots[j].phones = slots[j].phones + coda
            i = j + 1

    def run(self) -> PhonemeSequence:
        notes = self.score.notes
        slots = [self.classify(i, n) for i, n in enumerate(notes)]
        self.english(slots)
        self.mandarin(slots)
        self.in_order(slots)
        self.move_codas(slots)
        groups: list[Group] = []
        t = 0.0
        for i, (n, slot) in enumerate(zip(notes, slots, strict=True)):
            if n.start > t + GAP:  # a gap the reader left: sing it as a rest
                groups.append(Group(None, t, n.start, None, [Ph(inventory.SP, None)]))
            start = max(n.start, t) if groups else n.start
            phones = slot.phones or [Ph(inventory.SP, None)]  # never an empty group on the timeline
            groups.append(Group(i, start, n.end, n.pitch, phones, slur=slot.kind == "hold"))
            t = max(t, n.end)
        phonemes, pre_roll = time_groups(groups)
        sung = [s.language for s in slots if s.kind in ("sing", "hold")]
        language = max(set(sung), key=sung.count) if sung else (self.caller or self.score_language or "en")
        return PhonemeSequence(
            phonemes=phonemes,
            notes=[
                NoteInfo(i, n.start, n.duration, n.pitch, n.lyric, n.slur, n.where)
                for i, n in enumerate(notes)
            ],
            language=language,
            pre_roll=pre_roll,
            warnings=[w for _, w in sorted(self.warnings, key=lambda x: x[0])],
            source=self.score.source,
        )


def _held(slot: _Slot) -> Ph | None:
    """The phoneme a following melisma note holds: the last nucleus (the vowel of the syllable)."""
    if not slot.phones:
        return None
    r = roles([p.symbol for p in slot.phones])
    nuclei = [p for p, x in zip(slot.phones, r, strict=True) if x == NUCLEUS]
    held = nuclei[-1] if nuclei else slot.phones[-1]
    if inventory.kind(held.symbol) in (inventory.REST, inventory.BREATH):
        return None
    return held


def phonemize_score(score: Score, language: str | None = None, *, strict: bool = False) -> PhonemeSequence:
    """The phonemes of a score's sung line with a first, rule-based timing.

    Language per note: ``note.language``, else ``language``, else ``score.language``, else detected
    from the lyrics' script. Unreadable lyrics are sung as the language's fallback vowel with a
    warning in ``.warnings`` (``strict=True``: `ScoreError` naming the note instead).
    """
    validate(score, require_lyrics=False)
    return _Frontend(score, language, strict).run()


def g2p(lyric: str, language: str) -> list[str]:
    """One lyric -> tagged phonemes in ``language`` ('en', 'ja', 'zh' or an alias); `G2PError` if unreadable."""
    lang = detect.normalize_language(language)
    if lang == "ja":
        return ja.g2p(lyric)
    if lang == "zh":
        return zh.g2p(lyric)[0]
    if lang == "en":
        return en.g2p(lyric)
    raise G2PError(f"language {language!r} is not one vocalsynth sings (en, ja, zh)")
