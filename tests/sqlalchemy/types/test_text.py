"""ExactString, without a database: the exact, no-pad string type of each dialect."""

import pytest

from userstore_sqlalchemy import ExactString

from .dialects import column_ddl


@pytest.mark.parametrize(
    ("name", "length", "ddl"),
    [
        ("sqlite", 320, "VARCHAR(320)"),
        ("sqlite", None, "TEXT"),
        ("postgresql", 320, "VARCHAR(320)"),
        ("postgresql", None, "VARCHAR"),
        ("mysql8", 320, "VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin"),
        ("mysql8", None, "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin"),
        ("mariadb10.6", 320, "VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
        ("mariadb10.11", 43, "VARCHAR(43) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
        ("mariadb10.11", None, "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
    ],
)
def test_column_type_per_dialect(name: str, length: int | None, ddl: str) -> None:
    assert column_ddl(ExactString(length), name) == ddl


def test_length_is_kept_for_the_field_rules() -> None:
    assert ExactString(320).length == 320
    assert ExactString().length is None
