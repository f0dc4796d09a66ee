"""The spec's `execution:` block and the Postgres checkpointer: where a run's samples run.

A leaf module (pydantic and the core errors only), so `synthloom.spec` can hold these fields without
importing Ray or the driver.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from synthloom.core.config import StrictModel
from synthloom.core.errors import SynthloomError


class ExecutionSpec(StrictModel):
    """Where samples run: this process (the default), N local processes, or a Ray cluster."""

    ray: str | None = Field(
        default=None,
        description="`local` starts a Ray cluster on this machine; `auto` (or RAY_ADDRESS) "
        "or an address such as `ray://head:10001` / `head:6379` joins an existing one.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Ray worker processes (actors), each running the async sample loop "
        "with its share of `concurrency`; default: one per CPU the cluster offers.",
    )
    worker_cpus: float = Field(
        default=1.0, gt=0, le=64, description="CPUs Ray reserves for each worker."
    )
    start_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="How long to wait for a worker (or a replacement for a lost one) to start.",
    )

    @field_validator("ray")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("`execution.ray` is empty; use `local`, `auto` or an address")
        return value.strip() if value is not None else None

    @property
    def distributed(self) -> bool:
        """Whether the run goes through Ray (an address, or `workers` alone for local)."""
        return self.ray is not None or self.workers is not None


class PostgresCheckpointer(StrictModel):
    """`checkpointer: {postgres: DSN}`: checkpoints any worker on any node can resume from."""

    postgres: str = Field(
        min_length=1,
        description="A libpq connection string (postgresql://user@host:5432/db); give each "
        "run folder a database of its own, as thread ids are the run's sample ids.",
    )


class ExecutionError(SynthloomError):
    """A Ray cluster that cannot be reached or used as the spec asks (named, with the fix)."""
