"""The chain-of-thought roles: question writer, step-by-step reasoner, verifier.

Each returns a validated pydantic answer and the tokens it spent; the schemas'
field descriptions double as the instructions the model sees in the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from agents.llm import model_name
from agents.roles import demo_dialogues, reference_passages
from agents.structured import ask_structured
from prompts import PromptTemplate, load_prompt
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
class QuestionWriter:
    """Writes the sample's question for its concept and conditions."""

    model: BaseChatModel
    prompt: PromptTemplate
    max_reasks: int = 2

    async def write(
        self, plan: Plan, *, feedback: str | None, grounding: Grounded | None = None
    ) -> tuple[Question, Usage]:
        """A question for the plan (or a harder variant of its parent question)."""
        text = self.prompt.render(
            knowledge=reference_passages(grounding),
            demos=[d["question"] for d in demo_exchanges(grounding)],
            topic=plan.topic,
            conditions=plan.conditions,
            avoid=list(plan.avoid),
            parent_question=plan.parent_question,
            operation=plan.operation,
            feedback=feedback,
        )
        return await ask_structured(
            self.model,
            [HumanMessage(text)],
            Question,
            max_reasks=self.max_reasks,
            who="question writer",
        )


@dataclass(frozen=True)
class Reasoner:
    """Reasons one step per call, seeing every earlier step, then states the answer."""

    model: BaseChatModel
    step_prompt: PromptTemplate
    answer_prompt: PromptTemplate
    system_prompt: str
    min_steps: int = 1
    max_reasks: int = 2

    @property
    def name(self) -> str:
        """The served model's name."""
        return model_name(self.model)

    async def next_step(
        self,
        question: str,
        steps: Sequence[str],
        *,
        feedback: str | None,
        grounding: Grounded | None = None,
    ) -> tuple[ReasoningStep, Usage]:
        """The next reasoning step given the ones before it."""
        text = self.step_prompt.render(
            system_prompt=self.system_prompt,
            knowledge=reference_passages(grounding),
            question=question,
            steps=list(steps),
            min_steps=self.min_steps,
            feedback=feedback,
        )
        return await ask_structured(
            self.model,
            [HumanMessage(text)],
            ReasoningStep,
            max_reasks=self.max_reasks,
            who="reasoner",
        )

    async def answer(
        self, question: str, steps: Sequence[str], *, grounding: Grounded | None = None
    ) -> tuple[FinalAnswer, Usage]:
        """The final answer that the finished steps support."""
        text = self.answer_prompt.render(
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
class Verifier:
    """Re-derives the answer independently and agrees or disagrees."""

    model: BaseChatModel
    prompt: PromptTemplate
    max_reasks: int = 2

    async def check(
        self, question: str, steps: Sequence[str], answer: str
    ) -> tuple[Verification, Usage]:
        """The verdict on the candidate answer."""
        text = self.prompt.render(question=question, steps=list(steps), answer=answer)
        return await ask_structured(
            self.model,
            [HumanMessage(text)],
            Verification,
            max_reasks=self.max_reasks,
            who="verifier",
        )


def build_cot_roles(
    writer_model: BaseChatModel,
    reasoner_model: BaseChatModel,
    verifier_model: BaseChatModel,
    *,
    system_prompt: str,
    min_steps: int,
    max_reasks: int,
) -> tuple[QuestionWriter, Reasoner, Verifier]:
    """The three CoT roles with their packaged prompt files."""
    return (
        QuestionWriter(writer_model, load_prompt("question_writer"), max_reasks),
        Reasoner(
            reasoner_model,
            load_prompt("reasoner"),
            load_prompt("answerer"),
            system_prompt,
            min_steps,
            max_reasks,
        ),
        Verifier(verifier_model, load_prompt("verifier"), max_reasks),
    )
