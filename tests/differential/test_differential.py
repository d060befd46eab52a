"""Differential test: random operation sequences on the memory reference and on each backend.

A hypothesis ``RuleBasedStateMachine`` drives the memory reference store and
one SQL store (sqlite, postgres, mysql; UUID and integer ids; tokens in clear
and as digests) in lock step with adversarial values (see ``values.py``), and
after every step requires the same return values, the same exception types and
the same stored state (``pair.py``).  A failure prints the shrunk steps as
``Op(...)`` calls, ready to become a test in ``test_regressions.py``.

Budget: ``USERSTORE_DIFF_EXAMPLES`` sequences per backend and configuration
(default 60, the CI budget: the twelve runs take about 100 s on a 2-core machine
shared with other work; 75 took 122 s) of at most ``USERSTORE_DIFF_STEPS`` steps
(default 20).  The nox session ``differential`` runs 300 sequences of 40 steps.
Generation is random, so every CI run explores new sequences; the seed is printed
(``-s``, and in the captured output of a failure) and ``USERSTORE_DIFF_SEED``
replays it; every backend and configuration of one run draws from the same seed.
Hypothesis's example database is off (``database=None``): nothing is written
into the repository.  ``USERSTORE_DIFF_SHRINK=0`` skips shrinking (a quick look
at a failure on a long budget).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from . import ops as o
from .pair import Pair, real_store

EXAMPLES = int(os.environ.get("USERSTORE_DIFF_EXAMPLES", "60"))
STEPS = int(os.environ.get("USERSTORE_DIFF_STEPS", "20"))
SHRINK = os.environ.get("USERSTORE_DIFF_SHRINK", "1") != "0"
SEED = int(os.environ.get("USERSTORE_DIFF_SEED") or random.SystemRandom().getrandbits(32))

CONFIGS = [
    pytest.param("uuid", False, id="uuid"),
    pytest.param("uuid", True, id="uuid-digest"),
    pytest.param("int", False, id="int"),
    pytest.param("int", True, id="int-digest"),
]


def machine_for(runner: asyncio.Runner, pair: Pair, id_type: str) -> type[RuleBasedStateMachine]:
    """A state machine class whose rules run each operation on both stores of ``pair``."""

    def rule_for(method: str) -> Any:
        def step(self: DifferentialMachine, op: o.Op) -> None:
            self.run(pair.apply(op))

        step.__name__ = method.replace(".", "_")
        return rule(op=o.OPS[method](id_type))(step)

    class DifferentialMachine(RuleBasedStateMachine):
        """Every protocol operation, transactions and fresh sessions, on both stores."""

        def __init__(self) -> None:
            super().__init__()
            self.run(pair.start())

        def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
            runner.run(coroutine)

        @initialize(ops=o.seed_ops())
        def seed(self, ops: list[o.Op]) -> None:
            for op in ops:
                self.run(pair.apply(op))

        locals().update({m.replace(".", "_"): rule_for(m) for m in o.OPS})

        @rule(ops=st.lists(o.ops(id_type), min_size=1, max_size=4), rollback=st.booleans())
        def transaction(self, ops: list[o.Op], rollback: bool) -> None:
            self.run(pair.transaction(ops, rollback))

        @rule()
        def new_sessions(self) -> None:
            self.run(pair.new_sessions())

        @invariant()
        def same_state(self) -> None:
            self.run(pair.check_state())

        def teardown(self) -> None:
            self.run(pair.close_sessions())

    return DifferentialMachine


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """An event loop of the test's own: hypothesis calls the machine's rules synchronously."""
    with asyncio.Runner() as loop:
        yield loop


@pytest.mark.parametrize(("id_type", "token_digest"), CONFIGS)
def test_memory_and_backend_agree(
    db_url: str, runner: asyncio.Runner, id_type: str, token_digest: bool
) -> None:
    """Random sequences give the same results, errors and state as the reference."""
    prefix = f"diff_{secrets.token_hex(3)}_"
    store = real_store(db_url, id_type=id_type, token_digest=token_digest, prefix=prefix)
    runner.run(store.create_schema())
    try:
        pair = Pair(store)
        machine = machine_for(runner, pair, id_type)
        print(f"differential seed {SEED}: replay with USERSTORE_DIFF_SEED={SEED}")
        run_state_machine_as_test(
            seed(SEED)(machine),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                print_blob=True,
                phases=list(Phase) if SHRINK else [p for p in Phase if p is not Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
        for (method, outcome), count in sorted(pair.stats.items()):
            print(f"{method:30} {outcome:26} {count}")
    finally:
        runner.run(store.drop_schema())
        runner.run(store.close())
