"""userstore_sqlalchemy's public names: exactly these, importable, under public modules."""

from __future__ import annotations

import importlib.metadata
import inspect
import pickle

import userstore_sqlalchemy
import userstore_sqlalchemy.access_token
import userstore_sqlalchemy.migrations
import userstore_sqlalchemy.types

EXPECTED = {
    "GUID",
    "UUID_ID",
    "ExactString",
    "SQLAlchemyAccessTokenDatabase",
    "SQLAlchemyAdapter",
    "SQLAlchemyBaseAccessTokenTable",
    "SQLAlchemyBaseAccessTokenTableUUID",
    "SQLAlchemyBaseOAuthAccountTable",
    "SQLAlchemyBaseOAuthAccountTableUUID",
    "SQLAlchemyBaseUserTable",
    "SQLAlchemyBaseUserTableUUID",
    "SQLAlchemyStore",
    "SQLAlchemyUserDatabase",
    "UTCDateTime",
    "__version__",
    "build_models",
    "create_engine",
}
PUBLIC_MODULES = {
    "userstore_sqlalchemy",
    "userstore_sqlalchemy.access_token",
    "userstore_sqlalchemy.engine",
    "userstore_sqlalchemy.models",
    "userstore_sqlalchemy.store",
    "userstore_sqlalchemy.users",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(userstore_sqlalchemy.__all__) == EXPECTED
    assert len(userstore_sqlalchemy.__all__) == len(EXPECTED), "duplicates in __all__"


def test_every_name_is_importable_and_nothing_else_is_public() -> None:
    for name in EXPECTED:
        namespace: dict[str, object] = {}
        exec(f"from userstore_sqlalchemy import {name}", namespace)
        assert namespace[name] is getattr(userstore_sqlalchemy, name)
    public = {
        name
        for name, value in vars(userstore_sqlalchemy).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= EXPECTED


def test_fastapi_users_db_sqlalchemy_paths_exist() -> None:
    """The drop-in: fudb's ``access_token`` module path holds the same three names."""
    assert set(userstore_sqlalchemy.access_token.__all__) == {
        "SQLAlchemyAccessTokenDatabase",
        "SQLAlchemyBaseAccessTokenTable",
        "SQLAlchemyBaseAccessTokenTableUUID",
    }


def test_public_names_report_a_public_module() -> None:
    private = {
        name: obj.__module__
        for name in userstore_sqlalchemy.__all__
        if name != "UUID_ID"  # uuid.UUID itself, as in fastapi-users-db-sqlalchemy
        if inspect.isclass(obj := getattr(userstore_sqlalchemy, name)) or inspect.isfunction(obj)
        if obj.__module__ not in PUBLIC_MODULES
        and not obj.__module__.startswith("userstore_sqlalchemy.types")
    }
    assert private == {}


def test_the_store_class_pickles_by_its_public_path() -> None:
    assert pickle.loads(pickle.dumps(userstore_sqlalchemy.SQLAlchemyAccessTokenDatabase)) is (
        userstore_sqlalchemy.SQLAlchemyAccessTokenDatabase
    )


def test_submodules_export_what_they_document() -> None:
    assert set(userstore_sqlalchemy.types.__all__) >= {"GUID", "UUID_ID", "UTCDateTime"}
    assert "upgrade_from_fastapi_users" in userstore_sqlalchemy.migrations.__all__


def test_version_matches_the_distribution() -> None:
    assert userstore_sqlalchemy.__version__ == importlib.metadata.version("userstore-sqlalchemy")
