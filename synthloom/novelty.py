"""The novelty gate: an index of the accepted set, asked before a sample is kept.

Models at scale repeat themselves, and a repeat costs a whole dialogue. The gate keeps
every accepted sample's word n-gram shingles in MinHash-LSH indexes (datasketch's
permutations, banded buckets in flat arrays), one over whole samples and one over
openings (the first user turn, or a CoT question):

- `check_opening` is asked when a dialogue's opening turn is written, before the rest is
  played out: an opening too close to an accepted one is regenerated, shown the nearest
  accepted openings as already covered (the graph does that);
- `admit` is asked when a sample is about to be accepted: one whose n-gram Jaccard to an
  accepted sample reaches `threshold` is refused, with the id it repeats; otherwise it
  joins the index. Check and insert are one call, so with a run sharded over processes
  the driver, owning the one index, decides (two shards' copies cannot both pass);
- `covered` lists a few openings recently accepted on a plan's leaf and cell, for the
  user simulator to steer away from.

LSH only proposes candidates (its bands chosen so a pair at the threshold is one with
probability >= 0.999); each is verified by the exact Jaccard of the stored shingle
sets, so what is refused is exactly what the threshold says. Nothing is written to
disk: the index is rebuilt from `samples.jsonl` when a run resumes, so no second file
can disagree with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from synthloom.core.records import Plan, SampleRecord
from synthloom.core.store import iter_records
from synthloom.curate.dedup import permutations, shingle_hashes

# LSH makes a pair at the threshold a candidate with at least this chance (exact
# Jaccard then decides): 21 bands of 3 rows at 0.7, 0.99985 there and more above.
LSH_RECALL = 0.999
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)
# Accepted openings remembered per (leaf, cell) for the "already covered" list.
RECENT_PER_CELL = 12

Shingles = NDArray[np.uint32]


@dataclass(frozen=True)
class Near:
    """An accepted sample (or opening) the candidate is too close to."""

    of: str
    """The accepted sample's id."""
    similarity: float
    """Exact word n-gram Jaccard."""
    opening: str
    """The accepted sample's opening (what to show as already covered)."""


class NoveltyGate(Protocol):
    """What a run asks of the gate; a sharded run's workers ask the driver's one instance."""

    def covered(self, plan: Plan, k: int) -> list[str]:
        """Up to `k` openings accepted on the plan's leaf and cell, to steer away from."""
        ...

    def check_opening(self, plan: Plan, opening: str) -> list[Near]:
        """Accepted openings at or above the opening threshold, nearest first."""
        ...

    def admit(self, record: SampleRecord) -> Near | None:
        """Accept the sample into the index, or name the accepted sample it repeats."""
        ...

    def summary(self) -> dict[str, int]:
        """What `run.json` says of the gate."""
        ...


def sample_text(record: Mapping[str, Any]) -> str:
    """The words a sample is compared by: its user and assistant turns, in order."""
    messages = record.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")


def opening_of(record: Mapping[str, Any]) -> str:
    """The sample's opening: the CoT question, else the first user turn."""
    cot = (record.get("metadata") or {}).get("cot")
    if cot and cot.get("question"):
        return str(cot["question"])
    messages = record.get("messages") or []
    return next((str(m["content"]) for m in messages if m.get("role") == "user"), "")


def cell_of(where: Mapping[str, Any] | Plan) -> str:
    """A plan's (or a record's metadata's) leaf, or topic, with its condition values."""
    if isinstance(where, Plan):
        place, conditions = where.leaf or where.topic, where.conditions
    else:
        place = where.get("leaf") or where.get("topic") or ""
        conditions = where.get("conditions") or {}
    return f"{place}|{sorted(dict(conditions).items())}"


def jaccard(a: Shingles, b: Shingles) -> float:
    """Exact Jaccard of two sorted, distinct shingle-hash arrays."""
    if a.size == 0 or b.size == 0:
        return 0.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


class _Bands:
    """Banded LSH buckets in two flat arrays: (band, band hash) → key, open addressing.

    datasketch's `MinHashLSH` keeps a Python dict entry and a bytes object per band and
    sample: about 320 MB at 100,000 samples with 9 bands, 690 MB with the 21 bands
    that high recall needs. These arrays hold the same buckets in 12 bytes a slot.
    """

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        self._salt = np.arange(1, bands + 1, dtype=np.uint64) * _GOLDEN
        self._keys = np.zeros(1 << 12, dtype=np.uint64)  # 0 marks an empty slot
        self._vals = np.full(1 << 12, -1, dtype=np.int32)
        self._used = 0

    def band_keys(self, signature: NDArray[np.uint32]) -> NDArray[np.uint64]:
        """One nonzero 64-bit key per band of the signature."""
        rows = signature[: self.bands * self.rows].reshape(self.bands, self.rows)
        h = self._salt.copy()
        for column in rows.T.astype(np.uint64):
            h = (h ^ column) * _PRIME
        return _fmix64(h) | np.uint64(1)

    def query(self, keys: NDArray[np.uint64]) -> set[int]:
        """Keys of every entry sharing a band key with `keys`."""
        mask = np.uint64(len(self._keys) - 1)
        pos = keys & mask
        found: set[int] = set()
        active = np.ones(len(keys), dtype=bool)
        while active.any():
            slot = self._keys[pos]
            hit = active & (slot == keys)
            if hit.any():
                found.update(self._vals[pos[hit]].tolist())
            active &= slot != 0
            pos = (pos + np.uint64(1)) & mask
        return found

    def insert(self, keys: NDArray[np.uint64], value: int) -> None:
        """File `value` under each band key (load kept at most one half)."""
        if 2 * (self._used + len(keys)) > len(self._keys):
            self._grow()
        mask = len(self._keys) - 1
        for key in keys.tolist():
            at = key & mask
            while self._keys[at]:
                at = (at + 1) & mask
            self._keys[at] = key
            self._vals[at] = value
        self._used += len(keys)

    def _grow(self) -> None:
        full = self._keys != 0
        keys, vals = self._keys[full], self._vals[full]
        size = len(self._keys) * 2
        self._keys = np.zeros(size, dtype=np.uint64)
        self._vals = np.full(size, -1, dtype=np.int32)
        mask = np.uint64(size - 1)
        pos = keys & mask
        pending = np.arange(len(keys))
        # Linear probing, vectorized: each pass places, per free slot, one entry waiting
        # on it; the rest step on. No entry is ever removed, so lookups stay exact.
        while pending.size:
            at = pos[pending]
            free = self._keys[at] == 0
            slots, first = np.unique(at[free], return_index=True)
            winners = pending[free][first]
            self._keys[slots] = keys[winners]
            self._vals[slots] = vals[winners]
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            pos[pending] = (pos[pending] + np.uint64(1)) & mask


def _fmix64(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    # MurmurHash3's 64-bit finalizer: spreads the band hash into the low bits probed.
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def band_shape(threshold: float, num_perm: int, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows) for LSH at `threshold`: recall there at least `recall`.

    The most rows per band that still make a pair at the threshold a candidate with
    that chance; fewer rows would only bring more candidates to verify.
    """
    shape = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= recall:
            shape = (bands, rows)
    return shape


class _ShingleIndex:
    """LSH candidates over MinHash signatures of shingle sets, verified by exact Jaccard."""

    def __init__(self, threshold: float, *, ngram: int, num_perm: int) -> None:
        self.threshold = threshold
        self.ngram = ngram
        self.num_perm = num_perm
        self.bands = _Bands(*band_shape(threshold, num_perm))
        self.shingles: list[Shingles] = []
        self.keys: list[int] = []

    def _sketch(self, text: str) -> tuple[Shingles, NDArray[np.uint64]]:
        shingles = shingle_hashes(text, self.ngram)
        # MinHash straight from the shingle hashes (already hashes: no re-mixing needed),
        # with datasketch's permutations; uint32 arithmetic wraps: mod 2**32, as intended.
        a, b = permutations(self.num_perm)
        if shingles.size:
            signature = (a[:, None] * shingles[None, :] + b[:, None]).min(axis=1)
        else:
            signature = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
        return shingles, self.bands.band_keys(signature)

    def near(self, text: str) -> list[tuple[int, float]]:
        """(key, Jaccard) of indexed texts at or above the threshold, nearest first."""
        return self._verified(*self._sketch(text))

    def _verified(self, shingles: Shingles, keys: NDArray[np.uint64]) -> list[tuple[int, float]]:
        if shingles.size == 0:
            return []
        found = []
        for position in self.bands.query(keys):
            similarity = jaccard(shingles, self.shingles[position])
            if similarity >= self.threshold:
                found.append((self.keys[position], similarity))
        return sorted(found, key=lambda hit: (-hit[1], hit[0]))

    def _insert(self, key: int, shingles: Shingles, keys: NDArray[np.uint64]) -> None:
        if shingles.size:
            self.bands.insert(keys, len(self.shingles))
            self.shingles.append(shingles)
            self.keys.append(key)

    def add(self, key: int, text: str) -> None:
        """Index `text` under `key` (an empty text is not indexed)."""
        self._insert(key, *self._sketch(text))

    def check_and_add(
        self, key: int, text: str, *, allowed: int | None = None
    ) -> list[tuple[int, float]]:
        """`near` (but for key `allowed`), then `add` when nothing is near: one call."""
        shingles, keys = self._sketch(text)
        found = [hit for hit in self._verified(shingles, keys) if hit[0] != allowed]
        if not found:
            self._insert(key, shingles, keys)
        return found


class NoveltyIndex:
    """The accepted set of one run, in memory: the gate a single-process run uses."""

    def __init__(
        self,
        *,
        threshold: float,
        opening_threshold: float,
        ngram: int = 3,
        num_perm: int = 64,
    ) -> None:
        """Refuse samples at n-gram Jaccard `threshold`; flag openings at `opening_threshold`."""
        self.threshold = threshold
        self.ngram = ngram
        self._samples = _ShingleIndex(threshold, ngram=ngram, num_perm=num_perm)
        self._openings = _ShingleIndex(opening_threshold, ngram=ngram, num_perm=num_perm)
        self._ids: list[str] = []
        self._key_of: dict[str, int] = {}
        self._opening_text: list[str] = []
        self._recent: dict[str, deque[int]] = {}
        self.refused = 0
        """Finished samples refused in this process (each is also a reject on disk)."""
        self.openings_redirected = 0
        """Openings found repeating in this process (each one was asked again, or rejected)."""

    def __len__(self) -> int:
        return len(self._ids)

    def _near(self, key: int, similarity: float) -> Near:
        return Near(self._ids[key], similarity, self._opening_text[key])

    def covered(self, plan: Plan, k: int) -> list[str]:
        """Up to `k` recent openings of the plan's cell, the most typical of them first.

        'Typical' is the mean word overlap with the cell's other recent openings: what
        the model keeps writing for this cell is what it most needs steering from.
        """
        recent = list(self._recent.get(cell_of(plan), ()))
        if k <= 0 or not recent:
            return []
        texts = [self._opening_text[i] for i in recent]
        words = [set(t.lower().split()) for t in texts]

        def typical(i: int) -> float:
            others = [len(words[i] & w) / max(1, len(words[i] | w)) for w in words if w]
            return sum(others) / max(1, len(others))

        order = sorted(range(len(texts)), key=lambda i: (-typical(i), -i))
        return [texts[i][:300] for i in order[:k]]

    def check_opening(self, plan: Plan, opening: str) -> list[Near]:
        """Accepted openings at or above the opening threshold, nearest first."""
        nearest = [self._near(key, sim) for key, sim in self._openings.near(opening)][:3]
        self.openings_redirected += bool(nearest)
        return nearest

    def summary(self) -> dict[str, int]:
        """What `run.json` says of the gate (its counters are this process's)."""
        return {
            "accepted_indexed": len(self),
            "openings_redirected": self.openings_redirected,
            "refused": self.refused,
        }

    def admit(self, record: SampleRecord) -> Near | None:
        """Accept the sample, or name the accepted sample it repeats (and index nothing)."""
        dump = record.model_dump(mode="json")
        key = len(self._ids)
        # An evolved variant deepens its parent on purpose: it may stay close to it.
        parent = self._key_of.get(str(dump["metadata"].get("parent_id")))
        found = self._samples.check_and_add(key, sample_text(dump), allowed=parent)
        if found:
            self.refused += 1
            return self._near(*found[0])
        self._remember(key, record.id, dump)
        return None

    def _remember(self, key: int, sample_id: str, record: Mapping[str, Any]) -> None:
        opening = opening_of(record)
        self._key_of[sample_id] = key
        self._ids.append(sample_id)
        self._opening_text.append(opening)
        self._openings.add(key, opening)
        cell = cell_of(record.get("metadata") or {})
        self._recent.setdefault(cell, deque(maxlen=RECENT_PER_CELL)).append(key)

    def add_existing(self, record: Mapping[str, Any]) -> None:
        """Index an already accepted sample as it is (rebuilding on resume: no check)."""
        key = len(self._ids)
        self._samples.add(key, sample_text(record))
        self._remember(key, str((record.get("metadata") or {}).get("id")), record)

    @classmethod
    def rebuild(cls, records: Iterable[Mapping[str, Any]], **settings: Any) -> NoveltyIndex:
        """The index of a run's accepted samples (its `samples.jsonl`), in file order."""
        index = cls(**settings)
        for record in records:
            index.add_existing(record)
        return index


def near_duplicate_reason(near: Near, threshold: float, ngram: int) -> str:
    """The reject reason: `near_duplicate of <id>` and how close it was."""
    return (
        f"near_duplicate of {near.of} (word {ngram}-gram Jaccard {near.similarity:.2f} "
        f">= {threshold:g})"
    )


def open_index(spec_novelty: Any, samples_path: Path) -> NoveltyIndex | None:
    """The run's gate, rebuilt from its accepted samples; None when the spec turns it off."""
    if not spec_novelty.enabled:
        return None
    return NoveltyIndex.rebuild(
        iter_records(samples_path),
        threshold=spec_novelty.threshold,
        opening_threshold=spec_novelty.opening_threshold,
        ngram=spec_novelty.ngram,
        num_perm=spec_novelty.num_perm,
    )
