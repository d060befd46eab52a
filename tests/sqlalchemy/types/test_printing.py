"""Statements on userstore's types print with SQLAlchemy's generic string compiler.

``str(statement)`` and the ORM's DEBUG log (``sqlalchemy.orm`` at DEBUG prints
the lazy-load clause of every relationship when mappers are configured) compile
with the ``default`` dialect, which has no shim of its own.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.engine import default

from userstore_sqlalchemy.dialects import UnsupportedDialect, shim_for
from userstore_sqlalchemy.store import build_models


def test_statements_on_every_type_print() -> None:
    models = build_models(table_prefix="printed_")
    user, token = models.user, models.access_token
    printed = str(select(user).where(user.id == "x").where(user.email_key == "k"))
    assert "printed_user.id = :id_1" in printed
    assert "created_at >" in str(select(token).where(token.created_at > token.created_at))


def test_mappers_configure_with_the_orm_logging_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.orm")
    models = build_models(table_prefix="logged_")
    assert models.user.oauth_accounts.property.mapper.class_ is models.oauth_account
    assert any("lazy loading clause" in r.getMessage() for r in caplog.records)


def test_a_real_dialect_without_a_shim_is_still_refused() -> None:
    dialect = default.DefaultDialect()
    dialect.name = "oracle"
    with pytest.raises(UnsupportedDialect, match="mariadb, mysql, postgresql, sqlite\\)"):
        shim_for(dialect)
