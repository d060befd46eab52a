"""The conformance suite itself: it covers docs/contract.md, passes on memory, can fail."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from userstore import IdType, UserAlreadyExists
from userstore.memory import MemorySession, MemoryStore, MemoryUser, MemoryUserDatabase
from userstore.testing import CASES, CaseResult, MemoryHarness, run_case, run_suite

CONTRACT_SECTIONS = {
    1: "Objects",
    2: "IDs",
    3: "Emails",
    4: "OAuth accounts",
    5: "Deletion",
    6: "Access tokens",
    7: "Bad input",
    8: "Errors and sessions",
    9: "Transactions",
    10: "Round trips",
}


# The suite on the reference adapter ------------------------------------------------------


@pytest.fixture(scope="module")
def memory_results() -> list[CaseResult]:
    return asyncio.run(run_suite(MemoryHarness()))


def test_one_passing_result_per_case(memory_results: list[CaseResult]) -> None:
    assert [r.case for r in memory_results] == CASES
    failed = [r.report() for r in memory_results if not r.passed]
    assert not failed, "\n".join(failed)
    for result in memory_results:
        assert result.error == ""
        assert result.seconds >= 0
        assert result.report().startswith(f"[pass] s{result.case.section} ")


def test_every_contract_section_has_cases() -> None:
    sections = {c.section for c in CASES}
    assert sections == set(CONTRACT_SECTIONS)


def test_cases_are_in_contract_order_with_unique_ids() -> None:
    assert [c.section for c in CASES] == sorted(c.section for c in CASES)
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert c.id.startswith(f"s{c.section}-")
        assert c.title
        assert c.id_type in ("uuid", "int")


def test_both_id_kinds_and_the_digest_option_are_exercised() -> None:
    assert {c.id_type for c in CASES} == {"uuid", "int"}
    assert any(c.token_digest for c in CASES)


async def test_select_runs_only_the_chosen_cases() -> None:
    chosen = ["s3-email-unique", "s6-token-unique"]
    results = await run_suite(MemoryHarness(), select=chosen)
    assert [r.case.id for r in results] == chosen
    assert all(r.passed for r in results)
    assert await run_suite(MemoryHarness(), select=[]) == []


# Broken adapters make the suite fail -----------------------------------------------------


class BrokenSession(MemorySession):
    """A memory session whose user database is swapped for a broken one."""

    def __init__(self, store: "BrokenStore") -> None:
        super().__init__(store)
        self.users = store.users_class(self)


class BrokenStore(MemoryStore):
    def __init__(self, users_class: type[MemoryUserDatabase], **options: Any) -> None:
        super().__init__(**options)
        self.users_class = users_class

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MemorySession]:
        session = BrokenSession(self)
        try:
            yield session
        finally:
            await session.close()


class BrokenHarness(MemoryHarness):
    """The memory harness, with one method of the user database broken."""

    def __init__(self, users_class: type[MemoryUserDatabase]) -> None:
        self.users_class = users_class

    @asynccontextmanager
    async def open_store(
        self, *, id_type: IdType = "uuid", token_digest: bool = False
    ) -> AsyncIterator[MemoryStore]:
        store = BrokenStore(self.users_class, id_type=id_type, token_digest=token_digest)
        async with store:
            yield store


class CaseSensitiveLookup(MemoryUserDatabase):
    """get_by_email compares the stored email exactly, as a naive SQL ``=`` would."""

    async def get_by_email(self, email: str) -> MemoryUser | None:
        found = await super().get_by_email(email)
        return found if found is not None and found.email == email else None


class LowercasingCreate(MemoryUserDatabase):
    """create stores the email lower-cased instead of as given."""

    async def create(self, create_dict: dict[str, Any]) -> MemoryUser:
        email = create_dict.get("email")
        if isinstance(email, str):
            create_dict = {**create_dict, "email": email.lower()}
        return await super().create(create_dict)


class LeakyDuplicates(MemoryUserDatabase):
    """create lets a raw driver-style error escape instead of UserAlreadyExists."""

    async def create(self, create_dict: dict[str, Any]) -> MemoryUser:
        try:
            return await super().create(create_dict)
        except UserAlreadyExists:
            raise KeyError("duplicate key value violates unique constraint") from None


class RefreshAfterCreate(MemoryUserDatabase):
    """create reads the user back after writing it: the extra SELECT the contract forbids."""

    async def create(self, create_dict: dict[str, Any]) -> MemoryUser:
        user = await super().create(create_dict)
        again = await self.get(user.id)
        assert again is not None
        return again


async def run_broken(users_class: type[MemoryUserDatabase]) -> dict[str, CaseResult]:
    results = await run_suite(BrokenHarness(users_class))
    return {r.case.id: r for r in results}


async def test_the_broken_harness_is_otherwise_sound() -> None:
    results = await run_broken(MemoryUserDatabase)
    assert all(r.passed for r in results.values()), [r.report() for r in results.values()]


async def test_case_sensitive_lookup_fails_the_email_cases() -> None:
    results = await run_broken(CaseSensitiveLookup)
    failing = results["s3-email-lookup-by-key"]
    assert not failing.passed
    assert failing.error == "'alice.smith@example.com' finds 'Alice.Smith@Example.COM'"
    assert failing.report().startswith("[FAIL] s3 lookups ignore case")
    for case_id in ["s3-email-update-unique", "s4-oauth-loaded-in-order", "s7-values-at-limits"]:
        assert not results[case_id].passed, case_id
    for case_id in ["s3-email-stored-as-given", "s6-token-unique", "s9-autocommit"]:
        assert results[case_id].passed, results[case_id].report()


async def test_lowercasing_create_fails_the_stored_as_given_case() -> None:
    results = await run_broken(LowercasingCreate)
    failing = results["s3-email-stored-as-given"]
    assert not failing.passed
    assert failing.error == (
        "stored email: expected 'Mixed.Case@Example.COM', got 'mixed.case@example.com'"
    )
    assert results["s3-email-lookup-by-key"].passed


async def test_leaked_driver_error_fails_the_uniqueness_cases() -> None:
    results = await run_broken(LeakyDuplicates)
    unique = results["s3-email-unique"]
    assert not unique.passed
    assert unique.error == (
        "create: expected UserAlreadyExists, got builtins.KeyError: "
        "'duplicate key value violates unique constraint'"
    )
    concurrent = results["s3-email-concurrent-creates"]
    assert not concurrent.passed
    assert concurrent.error.startswith("unexpected errors: ['KeyError'")
    assert concurrent.observed == "1 created, 0 refused"
    assert not results["s8-usable-after-errors"].passed
    assert results["s4-oauth-unique"].passed


async def test_extra_round_trip_fails_the_round_trip_case() -> None:
    results = await run_broken(RefreshAfterCreate)
    failing = results["s10-round-trips"]
    assert not failing.passed
    assert failing.error == "statements for create: expected 1, got 2"
    assert failing.observed.startswith("create 2, add_oauth_account 1, get 1, get_by_email 1")
    assert "observed: create 2" in failing.report()
    others = [r for case_id, r in results.items() if case_id != "s10-round-trips"]
    assert all(r.passed for r in others), [r.report() for r in others if not r.passed]


async def test_a_crashing_harness_is_reported_not_raised() -> None:
    class NoStore(MemoryHarness):
        @asynccontextmanager
        async def open_store(
            self, *, id_type: IdType = "uuid", token_digest: bool = False
        ) -> AsyncIterator[MemoryStore]:
            raise ConnectionRefusedError("database is down")
            yield MemoryStore()  # pragma: no cover

    result = await run_case(NoStore(), CASES[0])
    assert not result.passed
    assert result.error == "crashed: ConnectionRefusedError: database is down"


# The pytest face of the suite ------------------------------------------------------------

CHILD_SUITE = """\
from contextlib import contextmanager

import pytest
from userstore.testing import MemoryHarness
from userstore.testing.pytest_plugin import ContractSuite


class ChattyHarness(MemoryHarness):
    # Counts one statement more than the store sent, as an adapter that refreshes would.
    @contextmanager
    def count_statements(self, store):
        with super().count_statements(store) as counter:
            yield counter
        counter.count += 1


class TestChatty(ContractSuite):
    @pytest.fixture
    def userstore_harness(self):
        return ChattyHarness()


class TestSound(ContractSuite):
    @pytest.fixture
    def userstore_harness(self):
        return MemoryHarness()
"""


def test_contract_suite_reports_failures_through_pytest(tmp_path: Path) -> None:
    # A child pytest, configured by nothing but an empty pytest.ini, and no asyncio plugin.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_child_contract.py").write_text(CHILD_SUITE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"1 failed, {2 * len(CASES) - 1} passed" in out
    assert "FAILED test_child_contract.py::TestChatty::test_contract[s10-round-trips]" in out
    assert "[FAIL] s10 each lookup is one statement" in out
    assert "statements for create: expected 1, got 2" in out
