"""Agreement between judges: Cohen's kappa over paired labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels for the same items (None when undefined).

    kappa = (p_o - p_e) / (1 - p_e): observed agreement corrected for the agreement
    expected by chance from each rater's label frequencies. 1 when both raters give
    one identical label throughout (perfect agreement, p_e = 1).
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    left, right = Counter(first), Counter(second)
    expected = sum(left[label] * right[label] for label in left) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - expected) / (1.0 - expected)
