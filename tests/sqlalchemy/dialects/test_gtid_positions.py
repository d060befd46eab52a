"""``MySQLShim.covers()`` on MariaDB GTID lists, as ``@@gtid_binlog_pos`` gives them.

A position covers another when, in every replication domain of the other, its
sequence number is as high (the server id in the middle does not order them).
tests/scaleout/test_replicas_mariadb.py runs the same against a real replica.
"""

import pytest

from userstore_sqlalchemy.dialects import MySQLShim

SHIM = MySQLShim()


@pytest.mark.parametrize(
    ("position", "needed", "covered"),
    [
        ("0-1-5", "0-1-5", True),
        ("0-1-6", "0-1-5", True),
        ("0-1-5", "0-1-6", False),
        ("0-1-10", "0-1-9", True),  # numbers, not text
        ("0-2-7", "0-1-6", True),  # another server of the domain wrote after
        ("0-1-5,1-1-3", "0-1-5", True),
        ("0-1-5", "0-1-5,1-1-3", False),  # domain 1 not reached at all
        ("1-1-3,0-1-9", "0-1-8,1-1-3", True),  # order does not matter
        ("0-1-9,1-1-2", "0-1-8,1-1-3", False),
        ("", "", True),
        ("0-1-1", "", True),
        ("", "0-1-1", False),
    ],
)
def test_covers(position: str, needed: str, covered: bool) -> None:
    assert SHIM.covers(position, needed) is covered
