"""GUID and uuid7, without a database: DDL per dialect, bind and result processing."""

import itertools
import time
import uuid

import pytest

from userstore_sqlalchemy import GUID
from userstore_sqlalchemy.types import uuid7

from .dialects import DIALECTS, column_ddl, dialect

VALUE = uuid.UUID("0190e6a2-7c3b-7d4e-8f00-123456789abc")


class DriverUUID(uuid.UUID):
    """What asyncpg hands back: a subclass of uuid.UUID."""


@pytest.mark.parametrize(
    ("name", "ddl"),
    [
        ("sqlite", "CHAR(36)"),
        ("postgresql", "UUID"),
        ("mysql8", "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin"),
        ("mariadb10.6", "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin"),
        ("mariadb10.11", "UUID"),
    ],
)
def test_column_type_per_dialect(name: str, ddl: str) -> None:
    assert column_ddl(GUID, name) == ddl


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("sqlite", str(VALUE)),
        ("postgresql", VALUE),
        ("mysql8", str(VALUE)),
        ("mariadb10.6", str(VALUE)),
        ("mariadb10.11", str(VALUE)),
    ],
)
@pytest.mark.parametrize(
    "given", [VALUE, str(VALUE), str(VALUE).upper(), DriverUUID(int=VALUE.int)]
)
def test_binds_a_string_or_a_uuid_per_dialect(name: str, bound: object, given: object) -> None:
    process = GUID()._cached_bind_processor(dialect(name))
    assert process is not None
    value = process(given)
    assert value == bound
    assert isinstance(value, type(bound))


@pytest.mark.parametrize("name", DIALECTS)
def test_binds_none_as_null(name: str) -> None:
    process = GUID()._cached_bind_processor(dialect(name))
    assert process is not None
    assert process(None) is None


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(str(VALUE), id="str"),
        pytest.param(str(VALUE).encode("ascii"), id="bytes"),
        pytest.param(DriverUUID(int=VALUE.int), id="uuid-subclass"),
        pytest.param(VALUE, id="uuid"),
    ],
)
def test_results_are_exactly_uuid(name: str, stored: object) -> None:
    value = GUID().process_result_value(stored, dialect(name))
    assert type(value) is uuid.UUID
    assert value == VALUE


@pytest.mark.parametrize("name", DIALECTS)
def test_result_none_stays_none(name: str) -> None:
    assert GUID().process_result_value(None, dialect(name)) is None


@pytest.mark.parametrize("name", ["sqlite", "mysql8", "mariadb10.11"])
def test_full_result_processor_gives_uuid_from_text(name: str) -> None:
    process = GUID()._cached_result_processor(dialect(name), None)
    assert process is not None
    value = process(str(VALUE))
    assert type(value) is uuid.UUID
    assert value == VALUE


def test_refuses_a_value_that_is_no_uuid() -> None:
    process = GUID()._cached_bind_processor(dialect("sqlite"))
    assert process is not None
    with pytest.raises(ValueError):
        process("not-a-uuid")


# uuid7 -----------------------------------------------------------------------------------


def test_uuid7_is_version_7_rfc_4122() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert type(value) is uuid.UUID
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after + 1  # 48-bit Unix milliseconds up front


def test_uuid7_strictly_increases_in_a_tight_loop() -> None:
    values = [uuid7() for _ in range(10_000)]
    assert all(a.int < b.int for a, b in itertools.pairwise(values))
    assert all(v.version == 7 and v.variant == uuid.RFC_4122 for v in values)
    assert len(set(values)) == len(values)
