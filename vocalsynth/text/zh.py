"""Mandarin G2P: hanzi (via pypinyin) and typed pinyin -> pinyin initials and finals (``zh/h zh/ao``).

Finals are written in full per the pinyin rules: y/w restored (yao -> iao, wei -> uei, wu -> u),
ü as v (lv, nü, ju -> v), iu/ui/un -> iou/uei/uen, apical zhi/chi/shi/ri -> ir and zi/ci/si -> i0.
Tones are not part of the symbols; `g2p_syllable` returns them apart (1-4, 5 neutral, None unmarked).
"""

from __future__ import annotations

import re
import unicodedata

from vocalsynth.text import inventory
from vocalsynth.text.errors import G2PError

INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
)
FINALS = frozenset(
    inventory.get(s).name for s in inventory.symbols("zh") if inventory.kind(s) == inventory.VOWEL
)
_TONE_MARKS = {"\u0304": 1, "\u0301": 2, "\u030c": 3, "\u0300": 4}
# interjection syllables without a regular final
_SPECIAL = {
    "m": ["zh/m"],
    "hm": ["zh/h", "zh/m"],
    "n": ["zh/n"],
    "ng": ["zh/eng"],
    "hng": ["zh/h", "zh/eng"],
    "ê": ["zh/ei"],
    "yo": ["zh/iou"],
}
_CONTRACTED = {"iu": "iou", "ui": "uei", "un": "uen"}


# every toneless syllable in pypinyin 0.55's dictionary (ü written v), plus interjections
VALID_SYLLABLES = frozenset(
    """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo bong bu ca cai
    can cang cao ce cei cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai
    chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den deng di
    dia dian diao die din ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng
    fiao fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha
    hai han hang hao he hei hen heng hm hng hong hou hu hua huai huan huang hui hun huo ji jia jian
    jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke kei ken keng kong kou ku
    kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei len leng li lia lian liang liao lie lin
    ling liu lo long lou lu luan lun luo lv lve m ma mai man mang mao me mei men meng mi mian miao mie
    min ming miu mo mou mu n na nai nan nang nao ne nei nen neng ng ni nia nian niang niao nie nin ning
    niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping
    po pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng ri
    rong rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she shei
    shen sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta
    tai tan tang tao te tei teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei
    wen weng wo wong wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao
    ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang
    zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu
    zuan zui zun zuo ê
    """.split()
)


def _normalise(syllable: str) -> tuple[str, int | None]:
    """'Nǚ3' / 'nu:3' / 'lü' -> ('nv', 3); tone marks and digits both understood."""
    s = unicodedata.normalize("NFD", syllable.strip().lower())
    tone = None
    out = []
    for ch in s:
        if ch in _TONE_MARKS:
            tone = _TONE_MARKS[ch]
        elif ch == "\u0308":  # diaeresis: ü
            if out and out[-1] == "u":
                out[-1] = "v"
        elif ch == "\u0302":  # circumflex: ê
            if out and out[-1] == "e":
                out[-1] = "ê"
        else:
            out.append(ch)
    s = "".join(out).replace("u:", "v")
    m = re.fullmatch(r"([a-zê]+)([0-5])?", s)
    if not m:
        raise G2PError(f"{syllable!r} is not a pinyin syllable")
    s = m.group(1)
    if m.group(2) is not None:
        tone = int(m.group(2)) or 5
    return s, tone


def split_syllable(syllable: str) -> tuple[str, str, int | None]:
    """Pinyin syllable -> (initial or '', final, tone): 'yao' -> ('', 'iao', None), 'zhi4' -> ('zh', 'ir', 4)."""
    s, tone = _normalise(syllable)
    if s in ("nue", "lue"):
        s = s[0] + "ve"
    if s in _SPECIAL:
        return "", s, tone
    if s not in VALID_SYLLABLES:
        raise G2PError(f"{syllable!r} is not a pinyin syllable")
    if s[0] == "y":
        rest = s[1:]
        if rest.startswith("i"):
            final = rest
        elif rest.startswith("u"):
            final = "v" + rest[1:]
        else:
            final = "i" + rest
        return "", _CONTRACTED.get(final, final), tone
    if s[0] == "w":
        rest = s[1:]
        final = rest if rest.startswith("u") else "u" + rest
        return "", final if final != "uong" else "ueng", tone
    initial = next((i for i in INITIALS if s.startswith(i) and len(s) > len(i)), "")
    final = s[len(initial) :]
    if initial in ("j", "q", "x") and final.startswith("u"):
        final = "v" + final[1:]
    if final == "i" and initial in ("zh", "ch", "sh", "r"):
        final = "ir"
    elif final == "i" and initial in ("z", "c", "s"):
        final = "i0"
    final = _CONTRACTED.get(final, final)
    if final not in FINALS:
        raise G2PError(f"{syllable!r} is not a pinyin syllable")
    return initial, final, tone


def g2p_syllable(syllable: str) -> tuple[list[str], int | None]:
    """One pinyin syllable -> (tagged phonemes, tone): ``g2p_syllable('lv3') == (['zh/l', 'zh/v'], 3)``."""
    initial, final, tone = split_syllable(syllable)
    if not initial and final in _SPECIAL:
        return list(_SPECIAL[final]), tone
    return ([f"zh/{initial}"] if initial else []) + [f"zh/{final}"], tone


def is_hanzi(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or o >= 0x20000 or ch == "〇"
    )


_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、“”‘’\"（）()\[\]【】《》…—\-_~～·]+")


def split_pinyin(text: str) -> list[str]:
    """Typed pinyin -> syllables: 'ni3 hao3', 'ni3hao3', "xi'an", 'nihao' (longest valid syllable first)."""
    out: list[str] = []
    text = _PUNCT.sub(" ", unicodedata.normalize("NFKC", text).replace("u:", "v").replace("U:", "V"))
    for chunk in re.split(r"[\s']+", text.strip()):
        if not chunk:
            continue
        # a tone digit ends a syllable: 'ni3hao3' -> 'ni3', 'hao3'
        for piece in re.findall(r"[^0-5]+[0-5]?|[0-5]", chunk):
            out.extend(_split_run(piece))
    return out


def _split_run(piece: str) -> list[str]:
    digit = piece[-1] if piece[-1].isdigit() else ""
    body = piece[:-1] if digit else piece
    try:
        _normalise(piece)
        split_syllable(piece)
        return [piece]
    except G2PError:
        pass
    # greedy: the longest prefix that is a syllable, then the rest
    syllables = []
    rest = body
    while rest:
        for size in range(min(6, len(rest)), 0, -1):
            try:
                split_syllable(rest[:size])
            except G2PError:
                continue
            syllables.append(rest[:size])
            rest = rest[size:]
            break
        else:
            raise G2PError(f"{piece!r} is not pinyin")
    syllables[-1] += digit
    return syllables


def hanzi_to_pinyin(texts: list[str]) -> list[list[str]]:
    """Each text's hanzi -> TONE3 pinyin, read together so that words spanning notes get their reading.

    Non-hanzi characters are dropped. One pypinyin call for all texts.
    """
    from pypinyin import Style, pinyin

    chars = [[c for c in t if is_hanzi(c)] for t in texts]
    joined = "".join("".join(c) for c in chars)
    if not joined:
        return [[] for _ in texts]
    flat = [r[0] for r in pinyin(joined, style=Style.TONE3, strict=True, neutral_tone_with_five=True)]
    out, i = [], 0
    for c in chars:
        out.append(flat[i : i + len(c)])
        i += len(c)
    return out


def g2p(text: str, *, pinyin_of_hanzi: list[str] | None = None) -> tuple[list[str], list[int | None]]:
    """A hanzi or pinyin lyric -> (tagged phonemes, tone per phoneme).

    ``g2p('你好') == (['zh/n', 'zh/i', 'zh/h', 'zh/ao'], [3, 3, 3, 3])``. For hanzi, ``pinyin_of_hanzi``
    gives readings already found in context (`hanzi_to_pinyin`). Raises `G2PError` when unreadable.
    """
    text = unicodedata.normalize("NFKC", text)
    bare = _PUNCT.sub("", text)
    if not bare:
        raise G2PError("the lyric is empty after removing punctuation")
    if any(is_hanzi(c) for c in bare):
        others = [c for c in bare if not is_hanzi(c)]
        if others:
            raise G2PError(f"mixes hanzi with {''.join(others)!r}; write hanzi or pinyin")
        syllables = pinyin_of_hanzi if pinyin_of_hanzi is not None else hanzi_to_pinyin([bare])[0]
    else:
        if not all(c.isascii() or unicodedata.category(c).startswith(("L", "M")) for c in bare):
            raise G2PError(f"can't read {bare!r} as pinyin")
        syllables = split_pinyin(text)
    phones: list[str] = []
    tones: list[int | None] = []
    for syl in syllables:
        ph, tone = g2p_syllable(syl)
        phones.extend(ph)
        tones.extend([tone] * len(ph))
    if not phones:
        raise G2PError("no syllable to sing")
    return phones, tones


# opencpop / DiffSinger spellings of finals that differ from ours
_HINT_FINALS = {"iu": "iou", "ui": "uei", "un": "uen", "E": "ie", "En": "ian", "ue": "ve"}


def map_hint(tokens: list[str]) -> list[str] | None:
    """Explicit phonemes (DiffSinger/opencpop ``['x', 'iao']``, ``['y', 'van']``, ``['sh', 'ir']``) -> symbols.

    Returns None when a token isn't an initial/final of ours (e.g. OpenUtau aliases like 'ya ao').
    """
    toks = [t.strip() for t in tokens if t.strip()]
    out: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in inventory.INVENTORY:
            out.append(tok)
        elif tok in ("y", "w") and i + 1 < len(toks):
            # opencpop writes zero-initial syllables as y/w + final: rebuild the syllable and re-split it
            nxt = {"E": "e", "En": "an"}.get(toks[i + 1], toks[i + 1])
            if nxt.startswith("v"):
                nxt = "u" + nxt[1:]
            try:
                ph, _ = g2p_syllable(tok + nxt)
            except G2PError:
                return None
            out.extend(ph)
            i += 1
        elif f"zh/{_HINT_FINALS.get(tok, tok)}" in inventory.INVENTORY:
            out.append(f"zh/{_HINT_FINALS.get(tok, tok)}")
        elif tok in ("sil", "pau"):
            out.append(inventory.SP)
        elif tok == "br":
            out.append(inventory.AP)
        else:
            return None
        i += 1
    return out or None
