import userstore_sqlalchemy.migrations


def test_public_names() -> None:
    assert set(userstore_sqlalchemy.migrations.__all__) == {
        "Conflict",
        "MigrationBlocked",
        "alembic_options",
        "compare_type",
        "process_revision_directives",
        "render_item",
        "upgrade_from_fastapi_users",
    }
    for name in userstore_sqlalchemy.migrations.__all__:
        assert getattr(userstore_sqlalchemy.migrations, name).__module__.startswith(
            "userstore_sqlalchemy.migrations."
        )
