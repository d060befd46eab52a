"""What the command does on a terminal: password prompts without echo, confirmation, progress.

The command runs with its stdin on a pseudo-terminal and in a session of its own
(no controlling terminal), so ``getpass`` prompts on stderr and reads the pty.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from userstore._cli import hide_password, parse_duration
from userstore._cli._output import _Progress

from .conftest import run_userstore

pytestmark = pytest.mark.backend("sqlite")


class Terminal:
    """``python -m userstore ARGS`` with its stdin on a pty; stdout and stderr are pipes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "userstore", *args],
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, prompt: str) -> None:
        """Read stderr until ``prompt`` (input typed before it would be flushed away)."""
        stream: IO[bytes] | None = self.process.stderr
        assert stream is not None
        while not self.seen.endswith(prompt.encode()):
            char = stream.read(1)
            assert char, f"stderr ended before {prompt!r}: {self.seen!r}"
            self.seen += char

    def type(self, line: str) -> None:
        os.write(self.master, f"{line}\n".encode())

    def finish(self) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=120)
        os.close(self.master)
        return self.process.returncode, out.decode(), (self.seen + err).decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


StartTerminal = Callable[[list[str]], Terminal]


@pytest.fixture
def terminal(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[StartTerminal]:
    """Start commands on a pty in the test's directory (on the default SQLite file)."""
    started: list[Terminal] = []

    def start(args: list[str]) -> Terminal:
        started.append(Terminal(args, tmp_path, cli_env))
        return started[-1]

    assert run_userstore("init", cwd=tmp_path, env=cli_env).status == 0
    yield start
    for each in started:
        each.kill()


def test_create_asks_twice_without_echo(terminal: StartTerminal) -> None:
    session = terminal(["users", "create", "tty@example.com"])
    session.expect("Password: ")
    session.type("s3cret-pw")
    session.expect("Password (again): ")
    session.type("s3cret-pw")
    status, out, err = session.finish()
    assert status == 0, err
    assert out.startswith("created user ")
    assert "s3cret-pw" not in out + err  # never echoed


def test_create_refuses_two_different_passwords(terminal: StartTerminal) -> None:
    session = terminal(["users", "create", "tty@example.com"])
    session.expect("Password: ")
    session.type("one")
    session.expect("Password (again): ")
    session.type("two")
    status, out, err = session.finish()
    assert (status, out) == (2, "")
    assert err.endswith("userstore: the two passwords differ\n")


@pytest.mark.parametrize(("answer", "status"), [("y", 0), ("n", 1), ("", 1)])
def test_delete_asks_for_confirmation(
    terminal: StartTerminal, tmp_path: Path, cli_env: dict[str, str], answer: str, status: int
) -> None:
    done = run_userstore(
        "users", "create", "del@example.com", cwd=tmp_path, env=cli_env, stdin="pw\n"
    )
    assert done.status == 0
    session = terminal(["users", "delete", "del@example.com"])
    session.expect("its OAuth accounts and tokens? [y/N] ")
    session.type(answer)
    code, out, err = session.finish()
    assert code == status, err
    shown = run_userstore("users", "show", "del@example.com", cwd=tmp_path, env=cli_env)
    if status == 0:
        assert out.startswith("deleted user ")
        assert shown.status == 1
    else:
        assert err.endswith("userstore: nothing deleted\n")
        assert shown.status == 0


# Small pieces, in process ---------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    stream = FakeTTY()
    progress = _Progress("purging", 30, forced=False, stream=stream)
    for done in (10, 20, 30):
        progress.update(done)
    progress.finish()
    assert stream.getvalue() == (
        "\rpurging: 10/30 (33%)\rpurging: 20/30 (66%)\rpurging: 30/30 (100%)\n"
    )


def test_progress_is_silent_off_a_terminal_unless_forced() -> None:
    quiet = io.StringIO()
    _Progress("purging", 5, forced=False, stream=quiet).update(5)
    assert quiet.getvalue() == ""
    forced = io.StringIO()
    progress = _Progress("purging", 5, forced=True, stream=forced)
    progress.update(7)  # more than counted: rows aged in meanwhile
    progress.finish()
    assert forced.getvalue() == "purging: 7/7 (100%)\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("45s", dt.timedelta(seconds=45)),
        ("2w", dt.timedelta(weeks=2)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        (" 7D ", dt.timedelta(days=7)),
        ("0s", dt.timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "1.5h", "-1d", "1y", "1d 2h", "P1D"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("mysql://u:p@ss@db/app", "mysql://u:***@db/app"),
        ("sqlite:///userstore.db", "sqlite:///userstore.db"),
    ],
)
def test_hide_password(url: str, shown: str) -> None:
    assert hide_password(url) == shown
