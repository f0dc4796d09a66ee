"""Cost bounds before a run: calls and a completion ceiling from the plans, and a
projection from what the run folder has already spent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthloom.estimate import describe, estimate
from synthloom.planning import make_plans
from synthloom.spec import parse_spec


def _spec(tmp_path: Path, body: str) -> str:
    return f"samples: 5\ntopics: [asthma, gout]\noutput: {tmp_path / 'run'}\n{body}"


def test_dialogue_bounds_follow_rounds_and_max_tokens(tmp_path: Path) -> None:
    spec = parse_spec(
        _spec(
            tmp_path,
            "dialogue: {rounds: {min: 1, max: 3}}\n"
            "models:\n  default: {max_tokens: 200}\n  user_simulator: {max_tokens: 50}\n",
        )
    )
    plans = list(make_plans(spec))
    rounds = sum(p.rounds for p in plans)
    est = estimate(spec, plans)
    assert (est.samples, est.calls_min, est.calls_max) == (5, 10, 2 * rounds)
    assert est.completion_max == rounds * (50 + 200)
    assert est.projected_tokens is None and len(describe(est)) == 2
    assert describe(est)[1].startswith("money: not estimated")


def test_cot_bounds_count_question_steps_answer_and_check(tmp_path: Path) -> None:
    body = "task: cot\ncot: {min_steps: 2, max_steps: 4, verify: VERIFY}\n"
    body += "models:\n  default: {max_tokens: 100}\n  judge: {max_tokens: 10}\n"
    verified = parse_spec(_spec(tmp_path, body.replace("VERIFY", "true")))
    est = estimate(verified, make_plans(verified))
    assert (est.calls_min, est.calls_max) == (5 * 5, 5 * 7)
    assert est.completion_max == 5 * (100 + 5 * 100 + 10)
    unverified = parse_spec(_spec(tmp_path, body.replace("VERIFY", "false")))
    est = estimate(unverified, make_plans(unverified))
    assert (est.calls_min, est.calls_max) == (5 * 4, 5 * 6)


def test_a_started_run_projects_the_total_from_its_measured_rate(tmp_path: Path) -> None:
    spec = parse_spec(_spec(tmp_path, ""))
    (tmp_path / "run").mkdir()
    manifest = {
        "counts": {"requested": 5, "accepted": 1, "rejected": 1, "failed": 0, "pending": 3},
        "usage": {"total_tokens": 9000},
    }
    (tmp_path / "run" / "run.json").write_text(json.dumps(manifest))
    est = estimate(spec, make_plans(spec))
    assert est.projected_tokens == 9000 // 2 * 5
    assert "4,500 tokens each → about 22,500 tokens for all 5" in describe(est)[2]
    # A torn or foreign run.json is no measurement, not a crash.
    (tmp_path / "run" / "run.json").write_text("{not json")
    assert estimate(spec, make_plans(spec)).projected_tokens is None


def test_a_large_run_is_estimated_from_evenly_spaced_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synthloom.estimate as estimate_module
    from synthloom.planning import Planner

    spec = parse_spec(_spec(tmp_path, "dialogue: {rounds: {min: 1, max: 5}}\n")).model_copy(
        update={"samples": 6000}
    )
    exact = estimate(spec, make_plans(spec))
    monkeypatch.setattr(estimate_module, "EXACT_UP_TO", 500)

    scaled = estimate_module.estimate_run(spec, Planner(spec))

    assert (scaled.samples, scaled.sampled) == (6000, 500)
    assert scaled.calls_min == exact.calls_min == 2 * 6000
    assert abs(scaled.calls_max - exact.calls_max) / exact.calls_max < 0.05
    assert abs(scaled.completion_max - exact.completion_max) / exact.completion_max < 0.05
    assert describe(scaled)[0].endswith("(scaled from 500 evenly spaced plans)")
    # Within the exact limit every plan is walked.
    small = spec.model_copy(update={"samples": 400})
    assert estimate_module.estimate_run(small, Planner(small)) == estimate(small, make_plans(small))


PRICED = (
    "dialogue: {rounds: {min: 1, max: 1}}\n"
    "models:\n  default: {max_tokens: 200, model: m}\n  user_simulator: {max_tokens: 50}\n"
    "pricing: {models: {m: {input_per_1m: 1.0, output_per_1m: 2.0}}}\n"
)


def test_money_ranges_from_short_answers_to_full_ones(tmp_path: Path) -> None:
    spec = parse_spec(_spec(tmp_path, PRICED))
    est = estimate(spec, make_plans(spec))
    # High, per sample: (600 + 2*50) + (650 + 2*200); low: answers at 1/8 of max_tokens
    # (6 and 25 tokens): (600 + 2*6) + (606 + 2*25). Per million tokens, 5 samples.
    assert est.cost_high == pytest.approx(5 * 1750 / 1e6)
    assert est.cost_low == pytest.approx(5 * 1268 / 1e6)
    assert describe(est)[1].startswith("money: 0.006340 USD–0.008750 USD for 5 samples")


def test_measured_money_is_projected_to_the_whole_run(tmp_path: Path) -> None:
    spec = parse_spec(_spec(tmp_path, PRICED))
    (tmp_path / "run").mkdir()
    manifest = {
        "counts": {"requested": 5, "accepted": 2, "rejected": 0, "failed": 0, "pending": 3},
        "usage": {"total_tokens": 3000},
        "cost": {"spent": 0.5},
    }
    (tmp_path / "run" / "run.json").write_text(json.dumps(manifest))
    lines = describe(estimate(spec, make_plans(spec)))
    assert "0.5000 USD spent, 0.2500 USD per finished sample → about 1.2500 USD" in lines[-1]


def test_a_cost_budget_needs_every_model_priced(tmp_path: Path) -> None:
    from synthloom.core.errors import SpecError

    with pytest.raises(SpecError, match=r"budget.max_cost needs a price .*'gpt-x'"):
        parse_spec(_spec(tmp_path, "models: {default: {model: gpt-x}}\nbudget: {max_cost: 5}\n"))
    # A shipped default price (dated) is enough for a well-known model.
    spec = parse_spec(
        _spec(tmp_path, "models: {default: {model: gpt-4o-mini}}\nbudget: {max_cost: 5}\n")
    )
    assert spec.pricing.price("gpt-4o-mini") is not None
