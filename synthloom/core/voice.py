"""Whose voice a turn is in: a person's or an assistant's.

A small logistic model over hashed words, the opening words and the layout of a
turn, trained on real conversations (ShareGPT, `benchmarks/train_role_voice.py`).
Phrase lists catch the blatant role flips ("Certainly! Here is an overview");
this catches an answer written where the person's question belongs, or a
question where the answer belongs, however it is phrased.
"""

from __future__ import annotations

import math
import re
import zlib
from functools import lru_cache
from importlib import resources

import numpy as np

FEATURE_BITS = 18
_TOKEN = re.compile(r"[a-z']+|[0-9]+|[^\sa-z0-9]")
_LIST = re.compile(r"^\s*(?:\d+\.|[-*•])\s", re.MULTILINE)
HEAD_TOKENS = 80
HEAD_CHARS = 1500
TAIL_TOKENS = 20
MODEL_FILE = "role_voice.npz"


def features(text: str, *, layout_only: bool = False) -> list[str]:
    """The named features of one turn: its words, opening and tail, and its layout."""
    text = text.strip()
    out: list[str] = []
    if not layout_only:
        low = text.lower()
        tokens = _TOKEN.findall(low[:HEAD_CHARS])
        head = tokens[:HEAD_TOKENS]
        out += [f"w:{w}" for w in head]
        out += [f"b:{a}_{b}" for a, b in zip(head, head[1:], strict=False)]
        out += [f"s{i}:{w}" for i, w in enumerate(tokens[:3])]
        out += [f"t:{w}" for w in _TOKEN.findall(low[-300:])[-TAIL_TOKENS:]]
    out.append(f"len:{min(12, int(math.log2(len(text) + 1)))}")
    out.append(f"q:{min(3, text.count('?'))}")
    out.append(f"endq:{int(text.endswith('?'))}")
    out.append(f"lines:{min(6, int(math.log2(text.count(chr(10)) + 1)))}")
    out.append(f"list:{int(bool(_LIST.search(text)))}")
    out.append(f"fence:{int('```' in text)}")
    out.append("bias")
    return out


_PREFIX = {tag: zlib.crc32(tag.encode()) for tag in ("w:", "b:", "t:", "s0:", "s1:", "s2:")}


def hashed(text: str, bits: int = FEATURE_BITS) -> list[int]:
    """Feature indices of a turn (deduplicated: presence, not counts).

    The same CRC-32 of each name in `features`, chained from the tag's CRC so the
    names need not be built: crc32(b"w:" + word) == crc32(word, crc32(b"w:")).
    """
    mask = (1 << bits) - 1
    crc = zlib.crc32
    stripped = text.strip()
    low = stripped.lower()
    tokens = [t.encode() for t in _TOKEN.findall(low[:HEAD_CHARS])]
    head = tokens[:HEAD_TOKENS]
    out = {crc(w, _PREFIX["w:"]) for w in head}
    out.update(crc(b"_" + b, crc(a, _PREFIX["b:"])) for a, b in zip(head, head[1:], strict=False))
    out.update(crc(w, _PREFIX[f"s{i}:"]) for i, w in enumerate(tokens[:3]))
    out.update(crc(w.encode(), _PREFIX["t:"]) for w in _TOKEN.findall(low[-300:])[-TAIL_TOKENS:])
    out.update(crc(name.encode()) for name in features(stripped, layout_only=True))
    return sorted(value & mask for value in out)


# The model was trained on English conversation; it judges text that reads as English
# prose. Keyword lists, word salad and other languages have few of these words.
_FUNCTION_WORDS = frozenset(
    "a an the is are was were be been am i you he she it we they me my your our their this "
    "that these those of to in on for with at by from as and or but not no do does did can "
    "could would should will what how why when where which who if so there here have has had "
    "just about".split()
)
PROSE_SHARE = 0.15
_WORDS = re.compile(r"[a-z']+")


def judged(text: str) -> bool:
    """Whether the voice model can judge `text` (English prose, not a list of words)."""
    words = _WORDS.findall(text[:HEAD_CHARS].lower())
    if not words:
        return False
    return sum(1 for w in words if w in _FUNCTION_WORDS) >= PROSE_SHARE * len(words)


@lru_cache(maxsize=1)
def _weights() -> np.ndarray:
    with resources.files("synthloom.data").joinpath(MODEL_FILE).open("rb") as handle:
        data = np.load(handle)
        return np.asarray(data["weights"], dtype=np.float32)


@lru_cache(maxsize=8192)
def assistant_voice(text: str) -> float:
    """Probability (0..1) that `text` was written by an assistant rather than a person."""
    weights = _weights()
    score = float(weights[hashed(text, int(math.log2(len(weights))))].sum())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))
