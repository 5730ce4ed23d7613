"""The Japanese dictionary (``dsdict-ja.yaml``) of an exported OpenUtau voicebank: every romaji syllable
OpenUtau's DIFFS JA phonemizer can hand over, mapped to the voice's phonemes by our own kana G2P.

OpenUtau turns kana lyrics into romaji with the csharp-kana package before it looks them up; the syllables
below are that package's ``KanaToRomajiMap`` (wolfgitpr/csharp-kana, ``Kana/DictUtil.cs``), each with the
kana it comes from, so our `vocalsynth.text.ja.g2p` reads the kana and the export never guesses romaji.
"""

from __future__ import annotations

from collections.abc import Iterable

from vocalsynth.text import inventory, ja

# romaji=kana, as csharp-kana's KanaToRomajiMap writes them (several kana may give one romaji: first kept)
_KANA_ROMAJI = """
cl=っ a=あ i=い ye=いぇ u=う wa=わ wi=うぃ we=うぇ wo=うぉ e=え o=お ka=か ga=が ki=き kye=きぇ kya=きゃ
kyu=きゅ kyo=きょ gi=ぎ gye=ぎぇ gya=ぎゃ gyu=ぎゅ gyo=ぎょ ku=く kwa=くぁ kwi=くぃ kwe=くぇ kwo=くぉ gu=ぐ
gwa=ぐぁ gwi=ぐぃ gwe=ぐぇ gwo=ぐぉ ke=け ge=げ ko=こ go=ご sa=さ za=ざ shi=し she=しぇ sha=しゃ shu=しゅ
sho=しょ ji=じ je=じぇ ja=じゃ ju=じゅ jo=じょ su=す swa=すぁ swi=すぃ swe=すぇ swo=すぉ zu=ず zwa=ずぁ
zwi=ずぃ zwe=ずぇ zwo=ずぉ se=せ ze=ぜ so=そ zo=ぞ ta=た da=だ chi=ち che=ちぇ cha=ちゃ chu=ちゅ cho=ちょ
tsu=つ tsa=つぁ tsi=つぃ tse=つぇ tso=つぉ te=て ti=てぃ tyu=てゅ de=で di=でぃ dyu=でゅ to=と tu=とぅ
do=ど du=どぅ na=な ni=に nye=にぇ nya=にゃ nyu=にゅ nyo=にょ nu=ぬ nwa=ぬぁ nwi=ぬぃ nwe=ぬぇ nwo=ぬぉ
ne=ね no=の ha=は ba=ば pa=ぱ hi=ひ hye=ひぇ hya=ひゃ hyu=ひゅ hyo=ひょ bi=び bye=びぇ bya=びゃ byu=びゅ
byo=びょ pi=ぴ pye=ぴぇ pya=ぴゃ pyu=ぴゅ pyo=ぴょ fu=ふ fa=ふぁ fi=ふぃ fe=ふぇ fo=ふぉ bu=ぶ bwa=ぶぁ
bwi=ぶぃ bwe=ぶぇ bwo=ぶぉ pu=ぷ pwa=ぷぁ pwi=ぷぃ pwe=ぷぇ pwo=ぷぉ he=へ be=べ pe=ぺ ho=ほ bo=ぼ po=ぽ
ma=ま mi=み mye=みぇ mya=みゃ myu=みゅ myo=みょ mu=む mwa=むぁ mwi=むぃ mwe=むぇ mwo=むぉ me=め mo=も
ya=や yu=ゆ yo=よ ra=ら ri=り rye=りぇ rya=りゃ ryu=りゅ ryo=りょ ru=る rwa=るぁ rwi=るぃ rwe=るぇ rwo=るぉ
re=れ ro=ろ n=ん va=ゔぁ vi=ゔぃ vu=ゔ ve=ゔぇ vo=ゔぉ
"""
OPENUTAU_ROMAJI: dict[str, str] = {}
for _pair in _KANA_ROMAJI.split():
    _romaji, _kana = _pair.split("=")
    OPENUTAU_ROMAJI.setdefault(_romaji, _kana)

# a phoneme the voice lacks -> the one Japanese singers substitute (ゔ is sung as b)
SUBSTITUTES = {"ja/v": "ja/b"}


def bare(symbol: str) -> str:
    """The name an exported voicebank uses for a phoneme: ``ja/k`` -> ``k``; SP, AP and other languages'
    tagged names stay as they are."""
    return symbol.split("/", 1)[1] if symbol.startswith("ja/") else symbol


def symbol_type(symbol: str) -> str:
    """The dsdict type: ``vowel`` for what our model sings on the beat (vowels, N, cl, SP, AP), else
    ``consonant`` -- never ``semivowel``/``liquid``, which OpenUtau would put on the beat too, while our
    model sings y, w and r before it like any onset."""
    try:
        return "vowel" if inventory.kind(symbol) in inventory.NUCLEUS_KINDS else "consonant"
    except KeyError:
        return "vowel"


def dictionary(phonemes: Iterable[str]) -> tuple[dict, list[str]]:
    """The dsdict mapping for a voice whose phoneme set is ``phonemes`` (tagged symbols), and the romaji
    left out because a phoneme they need is missing even after `SUBSTITUTES`."""
    known = set(phonemes)
    ja_symbols = sorted(s for s in known if s.startswith("ja/") or s in (inventory.SP, inventory.AP))
    entries, missing = [], []
    for romaji, kana in OPENUTAU_ROMAJI.items():
        symbols = [s if s in known else SUBSTITUTES.get(s, s) for s in ja.g2p(kana)]
        if not all(s in known for s in symbols):
            missing.append(romaji)
            continue
        entries.append({"grapheme": romaji, "phonemes": [bare(s) for s in symbols]})
    data = {
        "symbols": [{"symbol": bare(s), "type": symbol_type(s)} for s in ja_symbols],
        "entries": entries,
    }
    return data, missing
