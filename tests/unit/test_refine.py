"""Refinement rounds aim at the weak cells of a skewed run; evolve deepens questions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from knowledge.concepts import ConceptTree
from synthloom.core.records import Plan
from synthloom.planning import make_plans
from synthloom.refine import CellKey, CellStats, allocate_cells, plan_round, weakness
from synthloom.rundir import RunDir
from synthloom.spec import RunSpec, parse_spec


def skewed_run(
    tmp_path: Path, accepted_per_topic: dict[str, int], task: str = "dialogue"
) -> tuple[RunSpec, RunDir]:
    spec = parse_spec(
        f"""
task: {task}
samples: 30
topics: [asthma, gout, anemia]
output: {tmp_path / "run"}
refine: {{samples_per_round: 12, avoid_examples: 2}}
evolve: {{share: 0.5}}
"""
    )
    run_dir = RunDir(spec.output)
    run_dir.claim(spec.plan_fingerprint(), {})
    left = dict(accepted_per_topic)
    with open(run_dir.samples_path, "w") as samples, open(run_dir.rejects_path, "w") as rejects:
        for plan in make_plans(spec):
            if left.get(plan.topic, 0) > 0:
                left[plan.topic] -= 1
                meta = {"id": plan.id, "topic": plan.topic, "conditions": plan.conditions}
                weight = plan.index + 40
                question = f"About {plan.topic}, case {plan.index}: the dose for {weight} kg?"
                if task == "cot":
                    meta["cot"] = {"question": question, "steps": ["s"], "answer": "a"}
                messages = [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": "ok"},
                ]
                samples.write(json.dumps({"messages": messages, "metadata": meta}) + "\n")
            else:
                rejects.write(
                    json.dumps({"id": plan.id, "status": "rejected", "reason": "x"}) + "\n"
                )
    return spec, run_dir


def test_second_round_targets_the_under_covered_cells(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 10, "gout": 8, "anemia": 1})
    plans = plan_round(spec, run_dir, 1)
    assert len(plans) == 12
    topics = Counter(p.topic for p in plans)
    # After this round each topic's share is (19 + 12) / 3 ≈ 10.3 samples: anemia is 9.3
    # short, gout 2.3, asthma 0.3 (both also score a little for look-alike samples).
    assert topics["anemia"] >= 7
    assert topics["anemia"] > topics["asthma"] + topics["gout"]
    assert topics["gout"] > topics["asthma"]
    assert all(p.round == 1 for p in plans)
    assert len({p.id for p in plans}) == 12
    assert not {p.id for p in plans} & {p.id for p in make_plans(spec)}
    # The one accepted anemia sample is shown as already covered.
    anemia = [p for p in plans if p.topic == "anemia"]
    assert all(len(p.avoid) == 1 and "anemia" in p.avoid[0] for p in anemia)


def test_round_plans_are_deterministic_and_resume_from_disk(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 10, "gout": 2, "anemia": 2})
    first = plan_round(spec, run_dir, 1)
    assert first == plan_round(spec, run_dir, 1)
    run_dir.save_plans(1, first)
    assert run_dir.saved_plans() == first


def test_look_alike_samples_count_as_weakness() -> None:
    same = CellStats(("a", ()), accepted=4, examples=["what is the dose of x"] * 4)
    varied = CellStats(
        ("b", ()),
        accepted=4,
        examples=[
            "what is the dose of x",
            "why does gout flare",
            "is anemia inherited",
            "can I run",
        ],
    )
    scores = weakness({same.key: same, varied.key: varied})
    assert scores[same.key] > scores[varied.key]
    assert Counter(allocate_cells(scores, 10, seed=0))[same.key] >= 8


def test_allocation_is_proportional_and_exact() -> None:
    scores: dict[CellKey, float] = {("a", ()): 3.0, ("b", ()): 1.0, ("c", ()): 0.0}
    counts = Counter(allocate_cells(scores, 8, seed=1))
    assert counts == {("a", ()): 6, ("b", ()): 2}
    assert allocate_cells({("a", ()): 0.0}, 5, seed=1) == []


def test_target_per_cell_stops_refinement(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 10, "gout": 10, "anemia": 10})
    spec = spec.model_copy(
        update={"refine": spec.refine.model_copy(update={"target_per_cell": 10})}
    )
    assert plan_round(spec, run_dir, 1) == []


def test_evolve_deepens_accepted_cot_questions(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 4, "gout": 4, "anemia": 4}, task="cot")
    plans = [p for p in plan_round(spec, run_dir, 1) if p.parent_id]
    assert len(plans) == 6  # share 0.5 of 12 accepted
    accepted = {
        json.loads(line)["metadata"]["id"] for line in run_dir.samples_path.read_text().splitlines()
    }
    assert {p.parent_id for p in plans} <= accepted
    assert all(p.parent_question and p.operation for p in plans)


def test_never_sampled_grid_cells_are_filled(tmp_path: Path) -> None:
    spec = parse_spec(
        f"""
samples: 2
topics: [asthma, gout]
conditions: {{style: [brief, detailed]}}
output: {tmp_path / "run"}
refine: {{samples_per_round: 2}}
"""
    )
    run_dir = RunDir(spec.output)
    run_dir.claim(spec.plan_fingerprint(), {})
    base = list(make_plans(spec))
    with open(run_dir.samples_path, "w") as samples:
        for plan in base:
            meta = {"id": plan.id, "topic": plan.topic, "conditions": plan.conditions}
            record = {"messages": [{"role": "user", "content": plan.topic}], "metadata": meta}
            samples.write(json.dumps(record) + "\n")
    covered = {(p.topic, p.conditions["style"]) for p in base}
    new = {(p.topic, p.conditions["style"]) for p in plan_round(spec, run_dir, 1)}
    # Four cells, two covered once each: after the round every cell's share is one sample.
    assert len(covered) == 2 and len(new) == 2
    assert not new & covered


def test_cells_the_judge_scored_low_get_more_of_the_next_round(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 10, "gout": 10, "anemia": 10})
    curated = run_dir.path / "curated"
    curated.mkdir()
    with open(curated / "samples.jsonl", "w") as kept:
        for line in run_dir.samples_path.read_text().splitlines():
            record = json.loads(line)
            low = record["metadata"]["topic"] == "gout"
            judge = {"overall": 1 if low else 5}
            record["metadata"]["curation"] = {"judge": judge}
            kept.write(json.dumps(record) + "\n")
    plans = plan_round(spec, run_dir, 1)
    by_topic = Counter(p.topic for p in plans)
    # Even counts, but gout's samples were judged poor: the round goes there.
    assert by_topic["gout"] > by_topic["asthma"] + by_topic["anemia"]


def _tree_run(
    tmp_path: Path, outline_text: str, samples: int, *, skip_topic: str | None = None
) -> tuple[RunSpec, RunDir, ConceptTree, list[Plan]]:
    """A tree run whose base plans were all accepted (but those on `skip_topic`)."""
    outline = tmp_path / "outline.yaml"
    outline.write_text(outline_text, encoding="utf-8")
    spec = parse_spec(
        f"""
samples: {samples}
concepts: {{tree: {json.dumps(str(outline))}}}
output: {tmp_path / "run"}
refine: {{samples_per_round: 6}}
"""
    )
    tree = spec.concepts.base_tree() if spec.concepts else None
    assert tree is not None
    tree.save(spec.output / "concepts.json")
    run_dir = RunDir(spec.output)
    run_dir.claim(spec.plan_fingerprint(), {})
    base = list(make_plans(spec, tree))
    with open(run_dir.samples_path, "w") as written:
        for plan in base:
            if plan.topic == skip_topic:
                continue
            meta: dict[str, Any] = {"id": plan.id, "topic": plan.topic, "leaf": plan.leaf}
            meta["conditions"] = plan.conditions
            record = {"messages": [{"role": "user", "content": plan.id}], "metadata": meta}
            written.write(json.dumps(record) + "\n")
    return spec, run_dir, tree, base


def test_round_plans_over_a_concept_tree_carry_their_leaf(tmp_path: Path) -> None:
    outline = "Care:\n  Lungs: [Asthma, COPD]\n  Joints: [Gout]\n"
    # Gout is never accepted: the weak leaf.
    spec, run_dir, tree, _ = _tree_run(tmp_path, outline, 12, skip_topic="Joints > Gout")
    plans = plan_round(spec, run_dir, 1)
    leaf_of = {tree.topic(leaf): leaf for leaf in tree.leaves()}
    assert Counter(p.topic for p in plans).most_common(1)[0][0] == "Joints > Gout"
    assert all(p.leaf == leaf_of[p.topic] for p in plans)


def test_round_plans_on_leaves_the_base_run_never_planned_carry_their_leaf(
    tmp_path: Path,
) -> None:
    outline = "Care:\n  Lungs: [Asthma, COPD, Pneumonia]\n  Joints: [Gout, Arthritis, Bursitis]\n"
    spec, run_dir, tree, base = _tree_run(tmp_path, outline, 2)
    plans = plan_round(spec, run_dir, 1)
    unplanned = {tree.topic(leaf) for leaf in tree.leaves()} - {p.topic for p in base}
    assert len(unplanned) == 4
    # The round goes to the four leaves with no sample, each plan naming its leaf.
    assert {p.topic for p in plans} == unplanned
    leaf_of = {tree.topic(leaf): leaf for leaf in tree.leaves()}
    assert all(p.leaf is not None and p.leaf == leaf_of[p.topic] for p in plans)


def test_after_curation_a_cell_counts_only_what_curation_kept(tmp_path: Path) -> None:
    spec, run_dir = skewed_run(tmp_path, {"asthma": 10, "gout": 10, "anemia": 10})
    before = plan_round(spec, run_dir, 1)
    # Curation dropped every gout sample: gout is now the weak topic.
    samples = [json.loads(line) for line in run_dir.samples_path.read_text().splitlines()]
    gout = [s for s in samples if s["metadata"]["topic"] == "gout"]
    curated = run_dir.path / "curated"
    curated.mkdir()
    kept = [s for s in samples if s["metadata"]["topic"] != "gout"]
    (curated / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in kept))
    dropped = [
        {"id": s["metadata"]["id"], "status": "rejected", "reason": "judge: overall 2",
         "metadata": s["metadata"], "messages": s["messages"]}
        for s in gout
    ]  # fmt: skip
    (curated / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dropped))
    (curated / "curation.json").write_text("{}")
    after = plan_round(spec, run_dir, 1)
    assert Counter(p.topic for p in after)["gout"] > Counter(p.topic for p in before)["gout"]
    assert Counter(p.topic for p in after).most_common(1)[0][0] == "gout"
