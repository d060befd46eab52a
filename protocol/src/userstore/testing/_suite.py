"""The machinery of the conformance suite: cases, their context, and the runner."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from .._errors import UserStoreError
from .._fields import IdType
from .._store import Store, StoreSession
from ._harness import Harness

__all__ = [
    "CASES",
    "Case",
    "CaseContext",
    "CaseResult",
    "ContractViolation",
    "case",
    "run_case",
    "run_suite",
]


class ContractViolation(AssertionError):
    """A case observed something the contract forbids."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One rule of the contract (docs/contract.md) turned into a check."""

    id: str
    section: int
    title: str
    fn: Callable[[CaseContext], Awaitable[None]]
    id_type: IdType = "uuid"
    token_digest: bool = False
    timeout: float = 120.0


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """What running one case against one adapter gave."""

    case: Case
    passed: bool
    observed: str
    error: str = ""
    seconds: float = 0.0

    def report(self) -> str:
        """Say in a few lines what was observed and, on failure, why the case fails."""
        head = f"[{'pass' if self.passed else 'FAIL'}] s{self.case.section} {self.case.title}"
        lines = [head]
        if self.observed:
            lines.append(f"  observed: {self.observed}")
        if self.error:
            lines.append(f"  {self.error}")
        return "\n".join(lines)


CASES: list[Case] = []
"""Every case, in the contract's order (docs/contract.md)."""


def case(
    section: int, title: str, *, id_type: IdType = "uuid", token_digest: bool = False
) -> Callable[[Callable[[CaseContext], Awaitable[None]]], Callable[[CaseContext], Awaitable[None]]]:
    """Register the decorated coroutine as a case of ``section``."""

    def register(
        fn: Callable[[CaseContext], Awaitable[None]],
    ) -> Callable[[CaseContext], Awaitable[None]]:
        slug = fn.__name__.removeprefix("case_").replace("_", "-")
        CASES.append(Case(f"s{section}-{slug}", section, title, fn, id_type, token_digest))
        return fn

    return register


def _summary(notes: list[str]) -> str:
    """The notes joined, each said once: a note seen n times reads ``note (n times)``."""
    counts: dict[str, int] = {}
    for note in notes:
        counts[note] = counts.get(note, 0) + 1
    return "; ".join(note if n == 1 else f"{note} ({n} times)" for note, n in counts.items())


class CaseContext:
    """What a case works with: the harness, a fresh store, and a record of what it saw."""

    def __init__(self, harness: Harness, store: Store) -> None:
        self.harness = harness
        self.store = store
        self.notes: list[str] = []

    def observe(self, note: str) -> None:
        """Record something seen, for the report."""
        self.notes.append(note)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[StoreSession]:
        """Open a session on the case's store."""
        async with self.store.session() as session:
            yield session

    @staticmethod
    def user(email: str = "user@example.com", **extra: Any) -> dict[str, Any]:
        """Return a valid user create dict."""
        return {"email": email, "hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$x", **extra}

    @staticmethod
    def account(name: str = "github", account_id: str = "1001", **extra: Any) -> dict[str, Any]:
        """Return a valid OAuth-account create dict."""
        return {
            "oauth_name": name,
            "account_id": account_id,
            "account_email": f"{account_id}@{name}.example",
            "access_token": f"access-{name}-{account_id}",
            **extra,
        }

    @staticmethod
    def expect(condition: bool, message: str) -> None:
        """Fail the case with ``message`` unless ``condition`` holds."""
        if not condition:
            raise ContractViolation(message)

    def expect_equal(self, actual: Any, expected: Any, what: str) -> None:
        """Fail the case unless ``actual == expected``."""
        if actual != expected:
            raise ContractViolation(f"{what}: expected {expected!r}, got {actual!r}")

    async def expect_raises(
        self, error: type[BaseException], call: Awaitable[Any], what: str
    ) -> BaseException:
        """Await ``call`` and fail the case unless it raises exactly a ``error``."""
        try:
            value = await call
        except error as exc:
            self.expect(
                isinstance(exc, UserStoreError),
                f"{what}: {type(exc).__name__} does not derive from UserStoreError",
            )
            self.observe(f"{what}: {type(exc).__name__}")
            return exc
        except Exception as exc:
            raise ContractViolation(
                f"{what}: expected {error.__name__}, got {type(exc).__module__}."
                f"{type(exc).__name__}: {exc}"
            ) from exc
        raise ContractViolation(f"{what}: expected {error.__name__}, returned {value!r}")


async def run_case(harness: Harness, case: Case) -> CaseResult:
    """Run one case on a fresh store and report it; never raises for a failed case."""
    started = time.perf_counter()
    notes: list[str] = []
    try:
        async with harness.open_store(id_type=case.id_type, token_digest=case.token_digest) as st:
            ctx = CaseContext(harness, st)
            notes = ctx.notes
            await asyncio.wait_for(case.fn(ctx), timeout=case.timeout)
    except ContractViolation as exc:
        return CaseResult(case, False, _summary(notes), str(exc), time.perf_counter() - started)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return CaseResult(
            case, False, _summary(notes), f"crashed: {detail}", time.perf_counter() - started
        )
    return CaseResult(case, True, _summary(notes), "", time.perf_counter() - started)


async def run_suite(harness: Harness, *, select: Iterable[str] | None = None) -> list[CaseResult]:
    """Run every case (or those whose id is in ``select``) in order; return their results."""
    wanted = set(select) if select is not None else None
    return [await run_case(harness, c) for c in CASES if wanted is None or c.id in wanted]
