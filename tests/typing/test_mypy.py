"""An application type-checks under ``mypy --strict`` as it does with fastapi-users-db-sqlalchemy 7.

FastAPI Users' generics (``BaseUserManager[UP, ID]``, ``FastAPIUsers[UP, ID]``,
``DatabaseStrategy[UP, ID, AP]``) bound their model parameter by protocols of
plain attributes, and ``BaseUserManager`` wants a ``BaseUserDatabase`` subclass.
mypy checks a bound where the type argument is written (``class
UserManager(BaseUserManager[User, uuid.UUID])``) during semantic analysis, with
a member lookup that does not apply descriptors, so a model whose protocol
attributes are ``Mapped[...]`` columns fails it (a later use of the model then
fails too, from mypy's cached verdict).  The mixins therefore show mypy plain
attributes where a bound needs them, and ``SQLAlchemyUserDatabase`` is FastAPI
Users' ``BaseUserDatabase`` for mypy.

The documentation app is FastAPI Users' example with the imports switched: it
may give the errors that fastapi-users-db-sqlalchemy 7 gives on the same code
(``FUDB_DOCS_APP_ERRORS``), and no other.  The probe (``probe/``: OAuth
accounts, the database strategy, integer ids) is annotated and clean, but for the
one spelling that fails with fastapi-users-db-sqlalchemy too.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend("memory")

ROOT = Path(__file__).resolve().parents[2]
DOCS_APP = Path("tests", "dropin", "docs_app")
PROBE = Path("tests", "typing", "probe")

# What mypy 2.4 --strict reports on the documentation app with the imports of
# fastapi-users-db-sqlalchemy 7.0.0 (SQLAlchemy 2.0.58, fastapi-users 15.0.5), as
# "file: message  [code]", line numbers left out.  Why each is there:
# - no-untyped-def / no-untyped-call: the documentation leaves out return
#   annotations (the lifespan, create_db_and_tables, get_user_db,
#   get_user_manager, the on_after_* hooks, the route);
# - type-arg: ``user_db: SQLAlchemyUserDatabase = Depends(get_user_db)`` names
#   the generic class without its parameters;
# - var-annotated: ``get_jwt_strategy() -> JWTStrategy[models.UP, models.ID]``
#   returns FastAPI Users' unbound type variables, so mypy cannot infer the
#   parameters of ``auth_backend = AuthenticationBackend(...)``.
FUDB_DOCS_APP_ERRORS = collections.Counter(
    [
        "db.py: Function is missing a return type annotation  [no-untyped-def]",
        "db.py: Function is missing a return type annotation  [no-untyped-def]",
        "users.py: Function is missing a return type annotation  [no-untyped-def]",
        "users.py: Function is missing a return type annotation  [no-untyped-def]",
        "users.py: Function is missing a return type annotation  [no-untyped-def]",
        "users.py: Function is missing a return type annotation  [no-untyped-def]",
        'users.py: Missing type arguments for generic type "SQLAlchemyUserDatabase"  [type-arg]',
        'users.py: Need type annotation for "auth_backend"  [var-annotated]',
        "app.py: Function is missing a return type annotation  [no-untyped-def]",
        'app.py: Call to untyped function "create_db_and_tables" in typed context'
        "  [no-untyped-call]",
        "app.py: Function is missing a return type annotation  [no-untyped-def]",
    ]
)

# The same on probe/access_token_declared_attr.py: an integer-id access token whose
# ``user_id`` is a ``declared_attr`` fails the bound of ``AccessTokenDatabase`` and
# ``DatabaseStrategy`` (mypy does not apply the descriptor there), with either package.
FUDB_DECLARED_ATTR_ERRORS = collections.Counter(
    [
        'access_token_declared_attr.py: Type argument "AccessToken" of "AccessTokenDatabase"'
        ' must be a subtype of "AccessTokenProtocol[Any]"  [type-var]',
        'access_token_declared_attr.py: Type argument "AccessToken" of "DatabaseStrategy"'
        ' must be a subtype of "AccessTokenProtocol[Any]"  [type-var]',
        'access_token_declared_attr.py: Value of type variable "AP" of "DatabaseStrategy"'
        ' cannot be "AccessToken"  [type-var]',
    ]
)

_MESSAGE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<severity>error|note): (?P<text>.*)$")


@pytest.fixture(scope="session")
def mypy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache shared by the session's runs, and an empty configuration (the app's own)."""
    directory = tmp_path_factory.mktemp("mypy")
    (directory / "mypy.ini").write_text("[mypy]\n")
    return directory


def mypy_errors(target: Path, mypy_dir: Path) -> list[str]:
    """``mypy --strict`` on ``target``: its errors as "file: message  [code]"."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(mypy_dir / "mypy.ini"),
            "--cache-dir",
            str(mypy_dir / "cache"),
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            "--no-color-output",
            str(target),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors = []
    for line in result.stdout.splitlines():
        found = _MESSAGE.match(line)
        assert found is not None, f"unexpected mypy output: {line!r}"
        if found["severity"] == "error":
            errors.append(f"{Path(found['path']).name}: {found['text']}")
    assert (result.returncode == 1) == bool(errors), result.stdout
    return errors


def test_docs_app_gives_no_error_that_fudb_does_not(mypy_dir: Path) -> None:
    assert "userstore_sqlalchemy" in (ROOT / DOCS_APP / "db.py").read_text()
    errors = collections.Counter(mypy_errors(DOCS_APP, mypy_dir))
    assert sorted((errors - FUDB_DOCS_APP_ERRORS).elements()) == []


def test_probe_gives_no_error_that_fudb_does_not(mypy_dir: Path) -> None:
    """UUID and integer ids, OAuth accounts, the database strategy: clean but for one spelling."""
    errors = collections.Counter(mypy_errors(PROBE, mypy_dir))
    assert sorted((errors - FUDB_DECLARED_ATTR_ERRORS).elements()) == []
