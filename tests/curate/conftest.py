"""Run folders built by hand in the runner's own formats, and samples for block tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import GenericFakeChatModel

from synthloom.core.records import Plan, RejectRecord, SampleMeta, Turn
from synthloom.core.textstats import words_of
from synthloom.curate.sample import Sample
from synthloom.planning import make_plans
from synthloom.run_tree import TREE_FILE, load_run_tree
from synthloom.rundir import Counts, RunDir
from synthloom.spec import RunSpec, load_spec
from synthloom.tasks import DialogueTask

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "clinic-dialogue" / "spec.yaml"
SYSTEM = "You are a careful medical information assistant."
MODELS = {"user_simulator": "scripted-model", "assistant": "scripted-model"}

# Hand-written exchanges per topic of the example spec; dialogues combine them.
EXCHANGES: dict[str, list[tuple[str, str]]] = {
    "Managing type 2 diabetes after diagnosis": [
        (
            "I was just told I have type 2 diabetes. What should I change first?",
            "Start with the basics that move blood sugar the most: regular meals, fewer sugary "
            "drinks, and a short walk after dinner. Ask your clinician for an HbA1c target so "
            "you can see progress over the next three months.",
        ),
        (
            "Do I have to stop eating bread and pasta completely?",
            "No. Portion size and what you pair them with matter more than cutting them out. "
            "Whole-grain versions with some protein and vegetables raise glucose more slowly "
            "than a large plate of white pasta on its own.",
        ),
        (
            "My doctor mentioned metformin. Are there side effects I should watch for?",
            "Stomach upset and loose stools are the common ones, usually in the first weeks. "
            "Taking it with food and starting at a low dose helps. Tell your doctor if it "
            "persists, because an extended-release tablet is often easier to tolerate.",
        ),
        (
            "How often should I check my blood sugar at home?",
            "That depends on your treatment. On metformin alone many people do not need daily "
            "checks; on insulin you usually check before meals. Your care team can suggest a "
            "schedule that fits the medicines you take.",
        ),
    ],
    "Understanding high blood pressure readings": [
        (
            "The pharmacy machine said 150 over 95. Should I be worried?",
            "A single reading above 140 over 90 is worth following up, but it is not a "
            "diagnosis. Measure again at rest on several days, and book a visit if the average "
            "stays high.",
        ),
        (
            "What do the top and bottom numbers actually mean?",
            "The top number, systolic pressure, is the pressure while the heart beats; the "
            "bottom one, diastolic, is the pressure between beats. Both matter, and either "
            "being high raises the long-term risk of stroke and heart disease.",
        ),
        (
            "Can coffee before the measurement change the result?",
            "Yes. Caffeine, nicotine and exercise in the half hour before can push a reading "
            "up. Sit quietly for five minutes with your back supported and your arm at heart "
            "level before you measure.",
        ),
        (
            "Is a home cuff accurate enough to rely on?",
            "A validated upper-arm cuff is accurate enough for tracking. Bring it to your next "
            "appointment so the clinic can compare it with their device once.",
        ),
    ],
    "When a fever in a child needs a doctor": [
        (
            "My two-year-old has a fever of 39 degrees. When should I call the doctor?",
            "Call now if she is hard to wake, breathing fast, has a rash that does not fade "
            "when pressed, or is not drinking. Otherwise a fever alone in an active, drinking "
            "toddler can be watched at home for a day or two.",
        ),
        (
            "Should I give paracetamol or ibuprofen?",
            "Either helps her comfort; give the dose for her weight from the package and do "
            "not combine them routinely. Treat the discomfort, not the number on the "
            "thermometer.",
        ),
        (
            "How long is too long for a fever to last?",
            "More than five days of fever needs a doctor's review even if your child seems "
            "well, and so does any fever in a baby under three months.",
        ),
        (
            "She had a short seizure with the fever. Is that dangerous?",
            "A febrile seizure is frightening but usually harmless. Lay her on her side, time "
            "it, and call emergency services if it lasts more than five minutes; she should "
            "be seen by a doctor the same day.",
        ),
    ],
}


def dialogue(*pairs: tuple[str, str], system: str | None = SYSTEM) -> list[Turn]:
    """Messages of a dialogue: optional system prompt, then user/assistant pairs."""
    messages: list[Turn] = [{"role": "system", "content": system}] if system else []
    for user, assistant in pairs:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    return messages


def sample(messages: list[Turn], sid: str = "s1", index: int = 0, **meta: Any) -> Sample:
    """A Sample view of a record with these messages."""
    metadata = {"id": sid, "index": index, "topic": meta.pop("topic", "t"), **meta}
    return Sample({"messages": messages, "metadata": metadata})


GENERAL: list[tuple[str, str]] = [
    (
        "How much water should I drink in a day?",
        "Most adults do well with six to eight glasses, more in hot weather or when exercising.",
    ),
    (
        "Is it fine to take vitamins every morning?",
        "A balanced diet covers most needs; vitamin D in winter is the common exception.",
    ),
    (
        "Why do I feel so tired after lunch?",
        "Large meals rich in refined starch often cause a dip; a shorter walk afterwards helps.",
    ),
    (
        "Can stress really raise my numbers?",
        "Short bursts of stress do push readings up, so calm repeated readings count.",
    ),
    (
        "Should I keep a diary of my symptoms?",
        "Yes, dates, times and what you noticed make the next appointment far more productive.",
    ),
    (
        "What should I bring to my appointment?",
        "Your medicine list, recent readings and the two or three questions that worry you most.",
    ),
    (
        "Are online symptom checkers trustworthy?",
        "They can suggest what to ask about but cannot examine you; use them as a start.",
    ),
    (
        "How do I know if a website is reliable?",
        "Prefer national health services, university hospitals and cited sources.",
    ),
    (
        "Is sleep connected to any of this?",
        "Poor sleep worsens blood sugar control, blood pressure and coping with illness.",
    ),
    (
        "Can I exercise while I sort this out?",
        "Gentle activity is usually safe; stop and seek advice if you feel chest pain.",
    ),
    (
        "What about alcohol?",
        "Keeping to a few units a week and never on an empty stomach is the usual advice.",
    ),
    (
        "Who else can I ask between visits?",
        "Pharmacists answer medicine questions without an appointment and know your prescriptions.",
    ),
]


def exchanges_for(topic: str, index: int, rounds: int) -> list[tuple[str, str]]:
    """Distinct dialogues: a topical exchange, then general ones, chosen by the plan index."""
    # A concept-tree topic is a path ("Topic > Subtopic"): its first part picks the pool.
    pool = next((pairs for name, pairs in EXCHANGES.items() if topic.startswith(name)), None)
    pool = pool or [pair for pairs in EXCHANGES.values() for pair in pairs]
    picked = [pool[(index // 3) % len(pool)]]
    picked += [GENERAL[(index * 5 + 7 * k) % len(GENERAL)] for k in range(max(rounds - 1, 1))]
    user, assistant = picked[0]
    return [(f"Hello, I have a question ({index}). {user}", assistant), *picked[1:]]


TurnsFor = Callable[[Plan], list[Turn] | None]


def build_run(
    path: Path,
    spec: RunSpec,
    *,
    turns_for: TurnsFor | None = None,
    extra_meta: Callable[[Plan], dict[str, Any]] | None = None,
    gen_rejects: Sequence[tuple[int, str, str, str]] = (),
) -> RunSpec:
    """Write a run folder as `synthloom run` does: samples, rejects, run.json, spec.json.

    `turns_for(plan)` gives a dialogue (None: use the hand-written exchanges);
    `gen_rejects` lists (plan index, status, reason, code) of generation rejects.
    """
    spec = spec.model_copy(update={"output": path})
    run_dir = RunDir(path)
    run_dir.claim(spec.plan_fingerprint(), spec.model_dump(mode="json"))
    run_dir.open_writers()
    nobody = GenericFakeChatModel(messages=iter([]))
    task = DialogueTask(spec, {"user_simulator": nobody, "assistant": nobody})
    task.models = dict(MODELS)
    counts = Counts(requested=spec.samples)
    reject_at = {index: (status, reason, code) for index, status, reason, code in gen_rejects}
    tree = load_run_tree(spec)
    if tree is not None:
        tree.save(path / TREE_FILE)  # a run pins its tree in its folder
    for plan in make_plans(spec, tree):
        usage = {"calls": 4, "prompt_tokens": 300 + plan.index, "completion_tokens": 120}
        if plan.index in reject_at:
            status, reason, code = reject_at[plan.index]
            run_dir.write_reject(
                RejectRecord(
                    id=plan.id,
                    status="failed" if status == "failed" else "rejected",
                    reason=reason,
                    reason_code=code,
                    stage="dialogue",
                    plan=plan,
                    usage=usage,
                )
            )
            if status == "failed":
                counts.failed += 1
            else:
                counts.rejected += 1
            continue
        turns = turns_for(plan) if turns_for else None
        if turns is None:
            turns = dialogue(*exchanges_for(plan.topic, plan.index, plan.rounds), system=None)
        final = {"turns": turns, "usage": usage, "ended_by": "budget"}
        record = task.record(plan, final)
        if extra_meta:
            meta = {**record.metadata.model_dump(mode="json"), **extra_meta(plan)}
            record = record.model_copy(update={"metadata": SampleMeta.model_validate(meta)})
        run_dir.write_sample(record)
        counts.accepted += 1
    run_dir.close()
    run_dir.write_manifest(
        counts,
        fingerprint=spec.plan_fingerprint(),
        status="completed",
        extra={"task": spec.task, "models": MODELS, "stopped_because": None},
    )
    return spec


def small_spec(samples: int = 6, **overrides: Any) -> RunSpec:
    """The example spec (its topics and conditions) with another sample count."""
    spec = load_spec(EXAMPLE_SPEC)
    models = {
        "default": {
            "provider": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "scripted-model",
        }
    }
    data = {**spec.model_dump(mode="json"), "samples": samples, "models": models, **overrides}
    return RunSpec.model_validate(data)


def example_topics() -> list[str]:
    """The example's planned topics: its concept tree's leaves (or its flat topics)."""
    spec = small_spec()
    tree = load_run_tree(spec)
    return [tree.topic(leaf) for leaf in tree.leaves()] if tree is not None else spec.topics


@pytest.fixture
def example_spec() -> RunSpec:
    """The example spec, pointed at an endpoint nobody calls."""
    return small_spec()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


SYNONYMS = {
    "physician": "doctor",
    "doctor": "doctor",
    "gp": "doctor",
    "medication": "medicine",
    "medicine": "medicine",
    "drug": "medicine",
    "tablet": "medicine",
    "pills": "medicine",
    "pill": "medicine",
    "kid": "child",
    "child": "child",
    "toddler": "child",
    "youngster": "child",
    "fever": "fever",
    "temperature": "fever",
    "high": "high",
    "elevated": "high",
    "call": "contact",
    "ring": "contact",
    "phone": "contact",
    "contact": "contact",
}


class ConceptEmbeddings(Embeddings):
    """A small honest embedder: bag of concepts, with synonyms mapped to one concept.

    Paraphrases that swap synonyms embed identically; different content does not.
    """

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.calls = 0

    def _vector(self, text: str) -> list[float]:
        counts: dict[int, float] = {}
        for word in words_of(text):
            concept = SYNONYMS.get(word, word)
            slot = self.vocabulary.setdefault(concept, len(self.vocabulary))
            counts[slot] = counts.get(slot, 0.0) + 1.0
        vector = [0.0] * 4096
        for slot, value in counts.items():
            vector[slot % 4096] += value
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
