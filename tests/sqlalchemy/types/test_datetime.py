"""UTCDateTime, without a database: DDL per dialect, bind and result processing."""

import datetime as dt

import pytest

from userstore_sqlalchemy import UTCDateTime

from .dialects import DIALECTS, NAIVE_UTC, column_ddl, dialect

PARIS = dt.timezone(dt.timedelta(hours=2))
AWARE = dt.datetime(2024, 6, 1, 14, 30, 15, 123456, tzinfo=PARIS)
UTC = dt.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "ddl"),
    [
        ("sqlite", "DATETIME"),
        ("postgresql", "TIMESTAMP WITH TIME ZONE"),
        ("mysql8", "DATETIME(6)"),
        ("mariadb10.6", "DATETIME(6)"),
        ("mariadb10.11", "DATETIME(6)"),
    ],
)
def test_column_type_per_dialect(name: str, ddl: str) -> None:
    assert column_ddl(UTCDateTime, name) == ddl


@pytest.mark.parametrize("name", DIALECTS)
def test_naive_datetime_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(dt.datetime(2024, 6, 1, 12, 0), dialect(name))


@pytest.mark.parametrize("name", DIALECTS)
def test_naive_datetime_is_refused_by_the_full_bind_processor(name: str) -> None:
    process = UTCDateTime()._cached_bind_processor(dialect(name))
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(dt.datetime(2024, 6, 1, 12, 0))


@pytest.mark.parametrize("name", DIALECTS)
def test_aware_datetime_is_bound_as_utc(name: str) -> None:
    value = UTCDateTime().process_bind_param(AWARE, dialect(name))
    assert isinstance(value, dt.datetime)
    if name in NAIVE_UTC:
        assert value.tzinfo is None
        assert value == UTC.replace(tzinfo=None)
    else:
        assert value.utcoffset() == dt.timedelta(0)
        assert value == UTC
        assert (value.hour, value.microsecond) == (12, 123456)


def test_sqlite_stores_naive_utc_text_with_microseconds() -> None:
    process = UTCDateTime()._cached_bind_processor(dialect("sqlite"))
    assert process is not None
    assert process(AWARE) == "2024-06-01 12:30:15.123456"


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(UTC.replace(tzinfo=None), id="naive-utc"),
        pytest.param(UTC, id="aware-utc"),
        pytest.param(AWARE, id="aware-offset"),
    ],
)
def test_results_are_aware_utc(name: str, stored: dt.datetime) -> None:
    value = UTCDateTime().process_result_value(stored, dialect(name))
    assert value is not None
    assert value.tzinfo is dt.UTC
    assert value == UTC
    assert value.microsecond == 123456


def test_sqlite_text_result_is_aware_utc() -> None:
    process = UTCDateTime()._cached_result_processor(dialect("sqlite"), None)
    assert process is not None
    value = process("2024-06-01 12:30:15.123456")
    assert value == UTC
    assert value.tzinfo is dt.UTC


@pytest.mark.parametrize("name", DIALECTS)
def test_none_passes_both_ways(name: str) -> None:
    d = dialect(name)
    assert UTCDateTime().process_bind_param(None, d) is None
    assert UTCDateTime().process_result_value(None, d) is None
