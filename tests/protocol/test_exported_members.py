"""The public surface of ``userstore`` is exactly what ``__all__`` lists, and documented."""

import importlib.metadata
import inspect
import types

import pytest

import userstore
import userstore.memory
import userstore.rules
import userstore.testing

EXPECTED = {
    "ENTRY_POINT_GROUP",
    "AccessTokenAlreadyExists",
    "AccessTokenProtocol",
    "Adapter",
    "AdapterNotFound",
    "CommitOutcomeUnknown",
    "DatabaseError",
    "BaseAccessTokenDatabase",
    "BaseUserDatabase",
    "IdType",
    "InvalidURL",
    "InvalidUserData",
    "OAuthAccountAlreadyLinked",
    "OAuthAccountProtocol",
    "SchemaConflict",
    "SchemaOutdated",
    "SchemaUpgrade",
    "Store",
    "StoreSession",
    "ReadOnlyServer",
    "StoreUnavailable",
    "TransactionConflict",
    "UserAlreadyExists",
    "UserNotFound",
    "UserOAuthProtocol",
    "UserProtocol",
    "UpgradeProgress",
    "UserStoreError",
    "__version__",
    "available_adapters",
    "connect",
    "email_key",
    "register",
}

RULES_EXPECTED = {
    "ACCESS_TOKEN_FIELDS",
    "EMAIL_KEY_MAX_LENGTH",
    "FieldRule",
    "IdType",
    "OAUTH_ACCOUNT_FIELDS",
    "Schema",
    "check_aware_datetime",
    "coerce_id",
    "email_key",
    "id_rule",
    "lookup_email_key",
    "lookup_string",
    "token_digest",
    "user_fields",
}

TESTING_EXPECTED = {
    "harness_for",
    "CASES",
    "HARNESS_ENTRY_POINT_GROUP",
    "Case",
    "CaseContext",
    "CaseResult",
    "ContractViolation",
    "Harness",
    "MemoryHarness",
    "StatementCount",
    "run_case",
    "run_suite",
}

MEMORY_EXPECTED = {
    "MemoryAccessToken",
    "MemoryAccessTokenDatabase",
    "MemoryAdapter",
    "MemoryOAuthAccount",
    "MemoryStore",
    "MemoryUser",
    "MemoryUserDatabase",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(userstore.__all__) == EXPECTED
    assert len(userstore.__all__) == len(EXPECTED), "duplicates in __all__"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (userstore.testing, TESTING_EXPECTED),
        (userstore.memory, MEMORY_EXPECTED),
        (userstore.rules, RULES_EXPECTED),
    ],
    ids=["userstore.testing", "userstore.memory", "userstore.rules"],
)
def test_public_submodules(module: types.ModuleType, expected: set[str]) -> None:
    assert set(module.__all__) == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from userstore import {name}", namespace)
    assert namespace[name] is getattr(userstore, name)


def test_no_public_attribute_outside_all() -> None:
    public = {
        name
        for name, value in vars(userstore).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(userstore.__all__)


def test_version_matches_the_distribution() -> None:
    assert userstore.__version__ == importlib.metadata.version("userstore")


def _documented_objects() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for module in (userstore, userstore.testing, userstore.memory):
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            found.append((f"{module.__name__}.{name}", obj))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    func = member.__func__ if isinstance(member, classmethod) else member
                    if inspect.isfunction(func):
                        found.append((f"{module.__name__}.{name}.{attr}", func))
    return found


@pytest.mark.parametrize(
    ("qualname", "obj"), _documented_objects(), ids=[q for q, _ in _documented_objects()]
)
def test_public_classes_and_functions_have_docstrings(qualname: str, obj: object) -> None:
    doc = obj.__doc__
    assert doc is not None
    assert doc.strip(), f"{qualname} has an empty docstring"
    if inspect.isclass(obj):  # a dataclass without a docstring gets its signature as one
        assert not doc.startswith(f"{obj.__name__}("), f"{qualname} has no docstring"


@pytest.mark.parametrize("module", [userstore, userstore.memory], ids=lambda m: m.__name__)
def test_public_classes_and_functions_report_their_public_module(module: types.ModuleType) -> None:
    private = {
        name: obj.__module__
        for name in module.__all__
        if inspect.isclass(obj := getattr(module, name)) or inspect.isfunction(obj)
        if obj.__module__ != module.__name__ and obj.__module__.startswith("userstore._")
    }
    assert private == {}


def test_errors_pickle_and_print_under_their_public_name() -> None:
    import pickle

    error = userstore.InvalidURL("port out of range", part="port")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.part) == (userstore.InvalidURL, str(error), "port")
    assert repr(userstore.UserAlreadyExists) == "<class 'userstore.UserAlreadyExists'>"
    refused = userstore.DatabaseError("database error (X, 42)", code="42")
    again_refused = pickle.loads(pickle.dumps(refused))
    assert (again_refused.code, again_refused.detail) == ("42", None)
    conflict = userstore.TransactionConflict("conflicted", code="error 1213", detail="Deadlock")
    again_conflict = pickle.loads(pickle.dumps(conflict))
    assert type(again_conflict) is userstore.TransactionConflict
    assert (again_conflict.code, again_conflict.detail) == ("error 1213", "Deadlock")
    read_only = userstore.ReadOnlyServer("db:5432 is read-only", server="db:5432")
    again_read_only = pickle.loads(pickle.dumps(read_only))
    assert (type(again_read_only), again_read_only.server) == (userstore.ReadOnlyServer, "db:5432")
    unknown = pickle.loads(pickle.dumps(userstore.CommitOutcomeUnknown("lost during COMMIT")))
    assert isinstance(unknown, userstore.StoreUnavailable)
    assert str(unknown) == "lost during COMMIT"


def test_the_rules_helpers_moved_but_still_answer_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="userstore.rules.coerce_id"):
        moved = userstore.coerce_id  # type: ignore[attr-defined]
    assert moved is userstore.rules.coerce_id
    assert "coerce_id" not in userstore.__all__
    with pytest.raises(AttributeError):
        userstore.no_such_name  # type: ignore[attr-defined]  # noqa: B018
