"""The run spec: a YAML file parsed into a validated pydantic `RunSpec`.

Errors name the file, the YAML line, the field and what was expected, because a
traceback from inside pydantic tells a user nothing about their file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agents.flow import ConcurrencySpec
from graphs.checks import TurnChecks
from knowledge.concepts.spec import ConceptsSpec
from knowledge.spec import KnowledgeSpec
from synthloom.core.config import StrictModel
from synthloom.core.errors import SpecError, yaml_error
from synthloom.core.modelspec import (
    EMBEDDED_MODEL,
    ROLES,
    EmbeddedServerSpec,
    ModelSpec,
    ModelsSpec,
)
from synthloom.curate.config import CurateSpec
from synthloom.execution.config import ExecutionSpec, PostgresCheckpointer
from synthloom.languages import (
    LANGUAGE,
    PromptsSpec,
    check_codes,
    fold_language,
    planned_languages,
)
from synthloom.pricing import Pricing

__all__ = [
    "EMBEDDED_MODEL",
    "ROLES",
    "EmbeddedServerSpec",
    "ModelSpec",
    "ModelsSpec",
    "RunSpec",
    "load_spec",
    "parse_spec",
]


# Text every prompt of a sample carries: a topic or value pasted by mistake (a whole
# file) would be sent with every call and written into every record.
MAX_TOPIC_CHARS = 500
MAX_CONDITION_VALUE_CHARS = 500
MAX_SYSTEM_PROMPT_CHARS = 8000


class WeightedValue(StrictModel):
    """One value of a condition attribute and its relative sampling weight."""

    value: str = Field(min_length=1, max_length=MAX_CONDITION_VALUE_CHARS)
    weight: float = Field(default=1.0, gt=0.0)


def _normalize_values(raw: Any) -> Any:
    """Accept `[a, b]`, `{a: 2, b: 1}` or `[{value: a, weight: 2}]`."""
    if isinstance(raw, dict):
        return [{"value": str(k), "weight": v} for k, v in raw.items()]
    if isinstance(raw, list):
        return [item if isinstance(item, dict) else {"value": str(item)} for item in raw]
    return raw


ConditionValues = Annotated[list[WeightedValue], BeforeValidator(_normalize_values)]


class RoundsSpec(StrictModel):
    """How many user→assistant exchanges a dialogue has (sampled per dialogue)."""

    min: int = Field(default=2, ge=1, le=50)
    max: int = Field(default=4, ge=1, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> RoundsSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


DEFAULT_ASSISTANT_PROMPT = (
    "You are a knowledgeable, careful assistant. Answer accurately and concretely, "
    "say when something is uncertain, and keep answers focused on the user's question."
)


class DialogueSpec(StrictModel):
    """Settings of the dialogue role-play."""

    rounds: RoundsSpec = RoundsSpec()
    assistant_system_prompt: str = Field(
        default=DEFAULT_ASSISTANT_PROMPT, min_length=1, max_length=MAX_SYSTEM_PROMPT_CHARS
    )
    include_system_prompt: bool = Field(
        default=True, description="Put the assistant's system prompt first in `messages`."
    )
    max_regenerations: int = Field(
        default=2, ge=0, le=10, description="Retries of a turn that fails a check, per turn."
    )
    max_reasks: int = Field(
        default=2, ge=0, le=10, description="Re-asks of a structured answer that does not parse."
    )
    reasoning: bool = Field(
        default=False,
        description="The assistant reasons before each answer; kept hidden in metadata and "
        "exported only with `synthloom export --reasoning`.",
    )
    on_truncated: Literal["regenerate", "trim"] = Field(
        default="regenerate",
        description="An assistant turn cut off at max_tokens: regenerate it (then reject), "
        "or trim it to its last complete sentence.",
    )
    checks: TurnChecks = Field(
        default_factory=TurnChecks,
        description="Per-turn checks and their thresholds (codes: `synthloom checks eval`).",
    )


DEFAULT_COT_SYSTEM_PROMPT = (
    "You are a careful expert. Think step by step, then give a clear final answer."
)


class CotSpec(StrictModel):
    """Settings of chain-of-thought samples: question → steps → answer → check."""

    min_steps: int = Field(default=2, ge=1, le=50)
    max_steps: int = Field(default=6, ge=1, le=50, description="Step budget of the reasoner.")
    layout: Literal["think", "steps"] = Field(
        default="think",
        description="How reasoning appears in the training record: `<think>` tags or "
        "'Step 1: …' lines before the answer.",
    )
    system_prompt: str = Field(
        default=DEFAULT_COT_SYSTEM_PROMPT, min_length=1, max_length=MAX_SYSTEM_PROMPT_CHARS
    )
    include_system_prompt: bool = False
    verify: bool = Field(default=True, description="An independent verifier checks the answer.")
    max_step_retries: int = Field(
        default=2, ge=0, le=10, description="Regenerations of a step that repeats an earlier one."
    )
    max_reasks: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> CotSpec:
        if self.max_steps < self.min_steps:
            raise ValueError(
                f"max_steps ({self.max_steps}) must be >= min_steps ({self.min_steps})"
            )
        return self


class RefineSpec(StrictModel):
    """Dataset-level refinement: further rounds aimed at the weakest cells."""

    rounds: int = Field(default=0, ge=0, le=20, description="Refinement rounds after the base run.")
    samples_per_round: int = Field(default=0, ge=0, description="0 means a quarter of `samples`.")
    target_per_cell: int = Field(
        default=0, ge=0, description="Stop once every cell has this many accepted samples (0: off)."
    )
    avoid_examples: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Already-covered examples shown to push away from repeats.",
    )


class EvolveSpec(StrictModel):
    """Evol-style deepening: harder variants of accepted questions (cot)."""

    share: float = Field(default=0.0, ge=0.0, le=1.0, description="Variants per accepted sample.")
    operations: list[str] = Field(
        default_factory=lambda: [
            "add one realistic constraint",
            "require one more reasoning step",
            "make it concrete with specific numbers or details",
        ],
        min_length=1,
    )


class CoverageSpec(StrictModel):
    """Keeping the accepted set even over leaves and condition cells."""

    replacements: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Further attempts for a rejected or failed sample, with the same topic "
        "(leaf) and conditions, so lost samples do not leave their cell short.",
    )


class NoveltySpec(StrictModel):
    """The novelty gate: a sample too close to an accepted one is refused while generating."""

    enabled: bool = True
    # Both measured on real conversations (README "Novelty gate"): no two distinct ones
    # reach 0.7; a copy with 5% of its words changed keeps about 0.75.
    threshold: float = Field(
        default=0.7,
        gt=0.0,
        le=1.0,
        description="Word n-gram Jaccard to an accepted sample at which a finished sample is "
        "rejected (`near_duplicate of <id>`) and its slot gets a replacement.",
    )
    opening_threshold: float = Field(
        default=0.7,
        gt=0.0,
        le=1.0,
        description="Word n-gram Jaccard to an accepted opening at which a dialogue's opening "
        "turn is regenerated (within `dialogue.max_regenerations`), shown the nearest ones.",
    )
    ngram: int = Field(default=3, ge=1, le=10, description="Words per shingle.")
    num_perm: int = Field(
        default=64, ge=16, le=512, description="MinHash permutations (LSH candidate search)."
    )
    covered_examples: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Openings recently accepted on the same leaf and cell that the user "
        "simulator is shown as already covered.",
    )


class BudgetSpec(StrictModel):
    """What a run may spend. Reaching a limit stops it, resumably: raise the limit, re-run."""

    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Total tokens (prompt + completion, every role, all runs into this folder) "
        "after which no new sample starts; samples already in flight finish, so the total "
        "can pass the limit by up to `concurrency` samples.",
    )
    max_cost: float | None = Field(
        default=None,
        gt=0.0,
        description="Money (in `pricing.currency`, every model priced under `pricing`) after "
        "which no new sample starts. A sample starts only if its expected cost fits beside "
        "what is spent and what the samples in flight are expected to spend, so the run "
        "stays within about 5% (or one sample) of the limit.",
    )


class RunSpec(StrictModel):
    """Everything one run needs; its hash fingerprints the run folder."""

    task: Literal["dialogue", "cot"] = "dialogue"
    samples: int = Field(ge=1, le=10_000_000)
    seed: int = 0
    # `concepts` comes before `topics` so the topics check can see it.
    concepts: ConceptsSpec | None = Field(
        default=None, description="A concept tree whose leaves the samples cover evenly."
    )
    topics: list[Annotated[str, Field(min_length=1, max_length=MAX_TOPIC_CHARS)]] = Field(
        default_factory=list,
        validate_default=True,
        description="Flat topics; or a concept tree under `concepts`.",
    )
    knowledge: KnowledgeSpec | None = Field(
        default=None, description="A knowledge base grounding the samples (retrieval, demos)."
    )
    curate: CurateSpec | None = Field(
        default=None, description="Curation run after generation (filters, dedup, judges)."
    )
    conditions: dict[str, ConditionValues] = Field(default_factory=dict)
    dialogue: DialogueSpec = DialogueSpec()
    cot: CotSpec = CotSpec()
    prompts: PromptsSpec = Field(
        default_factory=PromptsSpec,
        description="Folders of prompt files replacing the packaged ones, file by file and "
        "per language (`dir`, `languages: {ko: folder}`).",
    )
    refine: RefineSpec = RefineSpec()
    evolve: EvolveSpec = EvolveSpec()
    models: ModelsSpec = ModelsSpec()
    coverage: CoverageSpec = CoverageSpec()
    novelty: NoveltySpec = NoveltySpec()
    budget: BudgetSpec = BudgetSpec()
    output: Path = Path("runs/synthloom")
    concurrency: ConcurrencySpec = Field(
        default_factory=ConcurrencySpec,
        description="Requests in flight per endpoint: `auto` (found by the controller "
        "between `min` and `max`), a fixed number, or `{start, min, max}`.",
    )
    pricing: Pricing = Field(
        default_factory=Pricing,
        description="Per model, per million tokens: input, cached input, output.",
    )
    checkpointer: Literal["sqlite", "none"] | PostgresCheckpointer = Field(
        default="sqlite",
        description="Checkpoint every dialogue step so a killed run resumes; "
        "`{postgres: DSN}` lets a dialogue cut on one node resume on another.",
    )
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec,
        description="Where samples run: this process, or Ray workers (`synthloom run --ray`).",
    )

    @field_validator("topics")
    @classmethod
    def _topics_or_concepts(cls, topics: list[str], info: ValidationInfo) -> list[str]:
        # A `concepts` block that failed validation is absent from info.data: say nothing.
        if not topics and "concepts" in info.data and info.data["concepts"] is None:
            raise ValueError("required field is missing (a list of topics, or a `concepts` tree)")
        return topics

    @model_validator(mode="after")
    def _check_conditions(self) -> RunSpec:
        for name, values in self.conditions.items():
            if not values:
                raise ValueError(f"condition {name!r} has no values")
            if not name.isidentifier():
                raise ValueError(f"condition name {name!r} must be a plain identifier")
            if not all(math.isfinite(v.weight) for v in values):
                raise ValueError(f"condition {name!r} has a non-finite weight")
        drawn = set(self.knowledge.conditions) if self.knowledge is not None else set()
        if both := sorted(drawn & self.conditions.keys()):
            raise ValueError(
                f"condition {both[0]!r} is under both `conditions` and `knowledge.conditions`; "
                "a value comes from the lists or from the knowledge base, not both"
            )
        return self

    @model_validator(mode="after")
    def _priced_budget(self) -> RunSpec:
        if self.budget.max_cost is None:
            return self
        roles = ["user_simulator", "assistant"] + (["judge"] if self.task == "cot" else [])
        models = {getattr(self.models, role).model: role for role in roles}
        if missing := self.pricing.unpriced(models):
            raise ValueError(
                f"budget.max_cost needs a price for every model, and {missing[0]!r} "
                f"(models.{models[missing[0]]}) has none: add it under `pricing.models` "
                "({input_per_1m, cached_input_per_1m, output_per_1m})"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _fold_language(cls, data: Any) -> Any:
        # `language: ko` or `{ko: 3, en: 1}` is the `language` condition, dealt like any.
        return fold_language(data)

    @model_validator(mode="after")
    def _check_languages(self) -> RunSpec:
        if LANGUAGE in self.conditions:
            check_codes([v.value for v in self.conditions[LANGUAGE]])
        return self

    @property
    def languages(self) -> list[str]:
        """The languages the plans are dealt (`language`; English when none is named)."""
        return planned_languages(self.conditions)

    def plan_fingerprint(self) -> str:
        """Hash of what decides the plans: a different one means a different dataset."""
        # Budgets (samples, retries, models, concurrency) may change between
        # resumes of the same dataset; what the samples are about may not.
        keys: dict[str, Any] = {
            "task": True,
            "seed": True,
            "topics": True,
            "concepts": True,
            "conditions": True,
            "dialogue": {"rounds", "assistant_system_prompt"},
            "cot": {"system_prompt"},
        }
        payload = self.model_dump(mode="json", include=keys)
        if self.concepts is not None:
            # The tree by file name: ids must not depend on where the checkout lives.
            payload["concepts"] = self.concepts.identity()
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_spec(path: str | Path) -> RunSpec:
    """Read and validate a spec file, raising `SpecError` with file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (a spec is UTF-8 YAML)") from None
    spec = parse_spec(text, source=str(path))
    if spec.knowledge is not None:
        # Knowledge files ship beside the spec: relative ones are read from its folder,
        # so every command (run, refine, validate) finds them from any working directory.
        knowledge = spec.knowledge.anchored(path.parent)
        _check_knowledge_paths(knowledge, path)
        spec = spec.model_copy(update={"knowledge": knowledge})
    if spec.concepts is not None:
        spec = spec.model_copy(update={"concepts": spec.concepts.anchored(path.parent)})
    prompts = spec.prompts.anchored(path.parent)
    if missing := prompts.missing():
        raise SpecError(f"{path}: {missing[0]} is not a folder (read from the spec's folder)")
    return spec.model_copy(update={"prompts": prompts})


def _check_knowledge_paths(knowledge: KnowledgeSpec, spec_path: Path) -> None:
    """A listed source or demo file that is not there: a typo would silently unground the run."""
    for field, paths in (("sources", knowledge.sources), ("demos", knowledge.demos)):
        for index, listed in enumerate(paths):
            if not Path(listed).exists():
                raise SpecError(
                    f"{spec_path}: knowledge.{field}[{index}]: {listed} does not exist "
                    "(relative paths are read from the spec's folder)"
                )


def parse_spec(text: str, source: str = "<spec>") -> RunSpec:
    """Validate spec YAML text; `source` names it in error messages."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error(source, exc)) from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of settings at the top level")
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, source, root)) from None


def _inherited(loc: list[int | str], msg: str, seen: set[tuple[Any, ...]]) -> bool:
    """A role's error that only repeats the same error under `models.default`."""
    if len(loc) >= 2 and loc[0] == "models" and loc[1] != "default":
        return (("models", "default", *loc[2:]), msg) in seen
    return False


def _format_errors(exc: ValidationError, source: str, root: yaml.Node | None) -> str:
    errors = [
        (err, [part for part in err["loc"] if not _is_validator_tag(part)]) for err in exc.errors()
    ]
    seen = {(tuple(loc), err["msg"]) for err, loc in errors}
    errors = [(err, loc) for err, loc in errors if not _inherited(loc, err["msg"], seen)]
    lines = [f"{source}: invalid spec ({len(errors)} problem(s))"]
    for err, loc in errors:
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line else source
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        got = err.get("input")
        suffix = f" (got {got!r})" if err["type"] not in {"missing"} and _is_scalar(got) else ""
        if isinstance(got, str) and len(got) > 80:
            # A pasted file is named by its start and size, not echoed whole.
            suffix = f" (got {got[:60]!r}…, {len(got):,} characters)"
        lines.append(f"  {where}: {field}: {message}{suffix}")
    return "\n".join(lines)


def _is_validator_tag(part: int | str) -> bool:
    # pydantic inserts union/function tags such as 'function-before[...]' into locations.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _line_of(node: yaml.Node | None, loc: list[int | str]) -> int | None:
    """The 1-based YAML line of the deepest node along `loc` that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if child is None:
                return line
            line = (key or child).start_mark.line + 1
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
