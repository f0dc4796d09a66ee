"""The chain-of-thought roles: question writer, step-by-step reasoner, verifier.

Each returns a validated pydantic answer and the tokens it spent; the schemas'
field descriptions double as the instructions the model sees in the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from agents.base import Role, language_of, script_language
from agents.roles import demo_dialogues, reference_passages
from agents.structured import ask_structured
from prompts import PromptSource, PromptTemplate
from synthloom.core.records import Grounded, Plan, Usage


def demo_exchanges(grounding: Grounded | None) -> list[dict[str, str]]:
    """Each demo as its first question and final answer: a model of format and depth."""
    exchanges = []
    for dialogue in demo_dialogues(grounding):
        asked = [t["content"] for t in dialogue if t["role"] == "user"]
        answered = [t["content"] for t in dialogue if t["role"] == "assistant"]
        if asked and answered:
            exchanges.append({"question": asked[0], "answer": answered[-1]})
    return exchanges


class Question(BaseModel):
    """A self-contained question that needs several reasoning steps."""

    question: str = Field(min_length=10, max_length=1200, description="The full question.")


class ReasoningStep(BaseModel):
    """The next step of the reasoning."""

    step: str = Field(min_length=1, max_length=800, description="One short, concrete inference.")
    ready_to_answer: bool = Field(
        default=False, description="True once the steps so far suffice to state the answer."
    )


class FinalAnswer(BaseModel):
    """The answer the reasoning leads to."""

    answer: str = Field(min_length=1, max_length=1200, description="The final answer, briefly.")


class Verification(BaseModel):
    """An independent examiner's verdict on a candidate answer."""

    own_answer: str = Field(description="The examiner's own answer, briefly.")
    verdict: Literal["agree", "disagree"] = Field(
        description="agree: the candidate answer is correct and follows from its steps."
    )
    explanation: str = Field(default="", description="One sentence; the first wrong step if any.")


@dataclass(frozen=True)
class QuestionWriter(Role):
    """Writes the sample's question for its concept and conditions."""

    who = "question writer"

    async def write(
        self, plan: Plan, *, feedback: str | None, grounding: Grounded | None = None
    ) -> tuple[Question, Usage]:
        """A question for the plan (or a harder variant of its parent question)."""
        return await self.ask(
            Question,
            language=language_of(plan),
            knowledge=reference_passages(grounding),
            demos=[d["question"] for d in demo_exchanges(grounding)],
            topic=plan.topic,
            conditions=plan.conditions,
            avoid=list(plan.avoid),
            parent_question=plan.parent_question,
            operation=plan.operation,
            feedback=feedback,
        )


@dataclass(frozen=True)
class Reasoner(Role):
    """Reasons one step per call, seeing every earlier step, then states the answer.

    `prompt` is the step prompt; the steps and the answer are written in the question's
    language (`language=`, or the one its script shows).
    """

    answer_prompt: PromptTemplate = field(kw_only=True)
    system_prompt: str = field(kw_only=True)
    min_steps: int = field(default=1, kw_only=True)
    who = "reasoner"

    async def next_step(
        self,
        question: str,
        steps: Sequence[str],
        *,
        feedback: str | None,
        grounding: Grounded | None = None,
        language: str | None = None,
    ) -> tuple[ReasoningStep, Usage]:
        """The next reasoning step given the ones before it."""
        return await self.ask(
            ReasoningStep,
            language=language or script_language(question),
            system_prompt=self.system_prompt,
            knowledge=reference_passages(grounding),
            question=question,
            steps=list(steps),
            min_steps=self.min_steps,
            feedback=feedback,
        )

    async def answer(
        self,
        question: str,
        steps: Sequence[str],
        *,
        grounding: Grounded | None = None,
        language: str | None = None,
    ) -> tuple[FinalAnswer, Usage]:
        """The final answer that the finished steps support."""
        text = self.render_prompt(
            language or script_language(question),
            prompt=self.answer_prompt,
            system_prompt=self.system_prompt,
            knowledge=reference_passages(grounding),
            demos=demo_exchanges(grounding),
            question=question,
            steps=list(steps),
        )
        return await ask_structured(
            self.model,
            [HumanMessage(text)],
            FinalAnswer,
            max_reasks=self.max_reasks,
            who="answerer",
        )


@dataclass(frozen=True)
class Verifier(Role):
    """Re-derives the answer independently and agrees or disagrees."""

    who = "verifier"

    async def check(
        self, question: str, steps: Sequence[str], answer: str
    ) -> tuple[Verification, Usage]:
        """The verdict on the candidate answer (its prompt stays in the file's language)."""
        return await self.ask(Verification, question=question, steps=list(steps), answer=answer)


def build_cot_roles(
    writer_model: BaseChatModel,
    reasoner_model: BaseChatModel,
    verifier_model: BaseChatModel,
    *,
    system_prompt: str,
    min_steps: int,
    max_reasks: int,
    source: PromptSource | None = None,
) -> tuple[QuestionWriter, Reasoner, Verifier]:
    """The three CoT roles with their packaged (or overridden, per language) prompt files."""
    source = source or PromptSource()
    return (
        QuestionWriter(writer_model, source.load("question_writer"), max_reasks, source=source),
        Reasoner(
            reasoner_model,
            source.load("reasoner"),
            max_reasks,
            answer_prompt=source.load("answerer"),
            system_prompt=system_prompt,
            min_steps=min_steps,
            source=source,
        ),
        Verifier(verifier_model, source.load("verifier"), max_reasks, source=source),
    )
