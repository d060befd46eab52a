"""Throwaway scale-out servers: a MariaDB Galera cluster, a PostgreSQL primary and standby.

:func:`galera_cluster` starts ``nodes`` MariaDB servers on free ports of 127.0.0.1
that form one Galera cluster, all under one temporary directory.
``mariadb-install-db`` runs once and its data directory is copied to each node,
with a ``grastate.dat`` giving every node the same cluster UUID at seqno 0, so a
joiner needs no state transfer (IST of nothing); the first node bootstraps with
``--wsrep-new-cluster`` and each other node is started after the previous one
is ``Synced``.  Database ``userstore`` is created on the first node once all
are in.  Galera's own ``auto_increment_increment`` (the cluster size) is kept.

:func:`postgres_primary_replica` runs ``initdb`` for a primary (``wal_level=replica``,
replication trusted from 127.0.0.1), creates database ``userstore`` on it, and
``pg_basebackup -R`` makes a hot standby on another port.

:func:`mariadb_primary_replica` copies the ``mariadb-install-db`` data directory to
a primary (``--log-bin``, ``--binlog-format=ROW``) and a ``--read-only`` replica,
points the replica at the primary by GTID (``MASTER_USE_GTID=slave_pos``, as
``root``), then creates database ``userstore`` on the primary, and user
``userstore`` with every right on it and no other, and waits until the replica
has both.  The URLs name that user, not ``root``: root's ``READ_ONLY ADMIN`` right
(part of ALL PRIVILEGES) lets it write on a ``--read-only`` server.

The servers are :class:`KillableServer`, :class:`~tests.faults.servers.ThrowawayServer`
with :meth:`~KillableServer.kill` (SIGKILL).  Everything is stopped and the
directory removed on exit, also after a failure.  Without the binaries the
context managers skip, or fail when ``USERSTORE_REQUIRE_BACKENDS`` names
``galera``, ``postgres-replica`` or ``mariadb-replica``.

``python -m tests.scaleout.servers galera|replica|replica-mariadb`` starts one by hand, prints
its URLs and the startup time, and waits for Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from ..backends import required_backends
from ..faults.servers import (
    PG_BIN,
    PG_USER,
    START_TIMEOUT,
    ThrowawayServer,
    _require,
    _run,
    free_port,
)

GALERA_PROVIDERS = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")
# quick failure detection; evs.install_timeout stays at its default
GALERA_EVS = (
    "evs.keepalive_period=PT0.3S;evs.join_retrans_period=PT0.3S;"
    "evs.inactive_check_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S"
)


def galera_provider() -> str | None:
    """``USERSTORE_GALERA_PROVIDER``, else the first libgalera_smm.so found."""
    if os.environ.get("USERSTORE_GALERA_PROVIDER"):
        return os.environ["USERSTORE_GALERA_PROVIDER"]
    return next((p for p in GALERA_PROVIDERS if Path(p).exists()), None)


def _missing(name: str, reason: str) -> NoReturn:
    """Skip, or fail when USERSTORE_REQUIRE_BACKENDS names ``name`` (as ``_require``)."""
    if name in required_backends():
        pytest.fail(f"backend {name} is required but {reason}")
    pytest.skip(reason)


class KillableServer(ThrowawayServer):
    """A :class:`ThrowawayServer` that can also die at once, as on a power cut."""

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, nothing flushed) and wait until it is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait()

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None


def _mariadb_client(port: int) -> list[str]:
    return ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", "-uroot", "--connect-timeout=1"]


def _status_query(name: str) -> str:
    return (
        "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
        f"WHERE VARIABLE_NAME = '{name}')"
    )


class GaleraNode(KillableServer):
    """One node of a :class:`GaleraCluster`; :meth:`start` waits until it is ``Synced``.

    A start after :meth:`kill` first recovers the node's last committed seqno from
    InnoDB (``--wsrep-recover``) into ``grastate.dat``, so that it rejoins by IST.
    """

    cluster: GaleraCluster
    index: int
    config: Path
    data: Path

    def start(self) -> None:
        """Start the node; wait until it is Synced in a cluster of every running node."""
        size = 1 + sum(1 for n in self.cluster.nodes if n is not self and n.running)
        ready = f"{_status_query('WSREP_LOCAL_STATE_COMMENT')} = 'Synced' AND "
        ready += f"{_status_query('WSREP_CLUSTER_SIZE')} >= {size}"
        # an error (not an empty answer) until ready: the client's exit status says it
        self._ready = [
            *_mariadb_client(self.port),
            "-e",
            f"SELECT IF({ready}, 1, (SELECT 1 UNION SELECT 2))",
        ]
        if self.starts:
            self._recover()
        super().start()

    def _recover(self) -> None:
        grastate = self.data / "grastate.dat"
        text = grastate.read_text() if grastate.exists() else ""
        if "seqno:   -1" not in text and "seqno: -1" not in text:
            return  # a clean shutdown wrote the seqno
        log = self.root / "recover.log"
        _run(
            [
                "mariadbd",
                f"--defaults-file={self.config}",
                "--wsrep-recover",
                f"--log-error={log}",
            ],
            f"{self.name} --wsrep-recover",
        )
        found = [
            line.split("Recovered position:")[1].strip()
            for line in log.read_text(errors="replace").splitlines()
            if "Recovered position:" in line
        ]
        if found:
            cluster_uuid, _, seqno = found[-1].rpartition(":")
            grastate.write_text(_grastate(cluster_uuid, int(seqno), bootstrap=False))


@functools.cache
def _installed_datadir() -> Path:
    """A data directory of ``mariadb-install-db``, made once per process, copied per node."""
    top = Path(tempfile.mkdtemp(prefix="userstore-galera-template-"))
    atexit.register(shutil.rmtree, top, ignore_errors=True)
    template = top / "data"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    _run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={template}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--innodb-log-file-size=8M",  # not 96M to copy to every node
            *as_root,
        ],
        "mariadb-install-db",
    )
    return template


def _remove(top: Path) -> None:
    """Remove ``top``, unless ``USERSTORE_SCALEOUT_KEEP`` is set (to read the logs)."""
    if os.environ.get("USERSTORE_SCALEOUT_KEEP"):
        print(f"kept {top}", file=sys.stderr)
        return
    shutil.rmtree(top, ignore_errors=True)


@dataclasses.dataclass
class GaleraCluster:
    """The nodes of a running Galera cluster, and its directory."""

    root: Path
    nodes: list[GaleraNode]
    cluster_uuid: str
    startup_s: float = 0.0

    @property
    def urls(self) -> list[str]:
        """The URL of database ``userstore`` on each node."""
        return [n.url for n in self.nodes]


def _grastate(cluster_uuid: str, seqno: int, *, bootstrap: bool) -> str:
    return (
        "# GALERA saved state\nversion: 2.1\n"
        f"uuid:    {cluster_uuid}\nseqno:   {seqno}\n"
        f"safe_to_bootstrap: {1 if bootstrap else 0}\n"
    )


def _galera_config(
    node: int, root: Path, data: Path, port: int, galera: list[int], ist: int, provider: str
) -> str:
    addresses = ",".join(f"127.0.0.1:{g}" for g in galera)
    options = (
        f"gmcast.listen_addr=tcp://127.0.0.1:{galera[node]};ist.recv_addr=127.0.0.1:{ist};"
        f"gcache.size=16M;{GALERA_EVS}"
    )
    lines = [
        "[mariadbd]",
        f"datadir={data}",
        f"port={port}",
        "bind-address=127.0.0.1",
        f"socket={root / 'sock'}",
        f"pid-file={root / 'pid'}",
        *(["user=root"] if os.geteuid() == 0 else []),
        "skip-log-bin",
        "skip-name-resolve",
        "innodb-buffer-pool-size=32M",
        "innodb-log-file-size=8M",
        "innodb-flush-log-at-trx-commit=0",
        "max-connections=200",
        "binlog_format=ROW",
        "default_storage_engine=InnoDB",
        "innodb_autoinc_lock_mode=2",
        "wsrep_on=ON",
        f"wsrep_provider={provider}",
        "wsrep_cluster_name=userstore-test",
        f"wsrep_cluster_address=gcomm://{addresses}",
        f"wsrep_node_name=node{node + 1}",
        f"wsrep_node_address=127.0.0.1:{galera[node]}",
        f"wsrep_sst_receive_address=127.0.0.1:{port}",  # mysqldump: the client port
        "wsrep_sst_method=mysqldump",
        "wsrep_sst_auth=root:",
        f'wsrep_provider_options="{options}"',
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def galera_cluster(nodes: int = 3) -> Iterator[GaleraCluster]:
    """A running Galera cluster of ``nodes`` nodes (see the module docstring)."""
    _require("galera", ["mariadb-install-db", "mariadbd", "mariadb", "rsync"])
    provider = galera_provider()
    if provider is None:
        _missing("galera", f"throwaway galera cluster: not found: {GALERA_PROVIDERS[0]}")
    began = time.monotonic()
    top = Path(tempfile.mkdtemp(prefix="userstore-galera-"))
    top.chmod(0o755)  # an rsync SST's daemon, started as root, runs as nobody
    cluster = GaleraCluster(top, [], str(uuid.uuid4()))
    try:
        template = _installed_datadir()
        # each node's ports: client (also mysqldump SST's), group communication, IST
        ports = [[free_port() for _ in range(3)] for _ in range(nodes)]
        galera = [p[1] for p in ports]
        for i, (port, _, ist) in enumerate(ports):
            root = top / f"node{i + 1}"
            data = root / "data"
            root.mkdir()
            shutil.copytree(template, data, symlinks=True)
            (data / "grastate.dat").write_text(_grastate(cluster.cluster_uuid, 0, bootstrap=i == 0))
            config = root / "my.cnf"
            config.write_text(_galera_config(i, root, data, port, galera, ist, provider))
            # InnoDB of a fresh datadir holds no wsrep position: give it, once
            command = ["mariadbd", f"--defaults-file={config}"]
            command.append(f"--wsrep-start-position={cluster.cluster_uuid}:0")
            if i == 0:
                command.append("--wsrep-new-cluster")
            url = f"mysql+aiomysql://root@127.0.0.1:{port}/userstore"
            node = GaleraNode(f"galera-node{i + 1}", root, port, url, command, [], signal.SIGTERM)
            node.cluster, node.index, node.config, node.data = cluster, i, config, data
            cluster.nodes.append(node)
        for node in cluster.nodes:
            node.start()
            # later starts join the running cluster from what the node holds
            node._command = node._command[:2]
        _run(
            [
                *_mariadb_client(cluster.nodes[0].port),
                "-e",
                "CREATE DATABASE userstore CHARACTER SET utf8mb4",
            ],
            "CREATE DATABASE userstore",
        )
        cluster.startup_s = time.monotonic() - began
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            node.stop()
        _remove(top)


@dataclasses.dataclass
class PrimaryReplica:
    """A primary and its replica: PostgreSQL hot standby, or MariaDB GTID replication."""

    root: Path
    primary: KillableServer
    replica: KillableServer
    startup_s: float = 0.0


def _pg_server(name: str, root: Path, data: Path, port: int, settings: list[str]) -> KillableServer:
    command = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root)]
    for setting in ["listen_addresses=127.0.0.1", "fsync=off", *settings]:
        command += ["-c", setting]
    ready = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    ready += ["-d", "postgres", "-U", "postgres"]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    # SIGINT is PostgreSQL's fast shutdown
    return KillableServer(name, root, port, url, command, ready, signal.SIGINT, PG_USER)


@contextlib.contextmanager
def postgres_primary_replica() -> Iterator[PrimaryReplica]:
    """A PostgreSQL primary and a hot standby of it (see the module docstring)."""
    binaries = ["initdb", "postgres", "pg_isready", "pg_basebackup", "psql"]
    _require("postgres-replica", [PG_BIN / b for b in binaries])
    began = time.monotonic()
    top = Path(tempfile.mkdtemp(prefix="userstore-pg-replica-"))
    servers: list[KillableServer] = []
    try:
        roots = [top / "primary", top / "replica"]
        for root in roots:
            root.mkdir()
            if PG_USER is not None:
                shutil.chown(root, PG_USER, PG_USER)
        if PG_USER is not None:
            shutil.chown(top, PG_USER, PG_USER)
        data = roots[0] / "data"
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            "initdb",
            user=PG_USER,
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        settings = ["max_connections=50", "wal_level=replica", "max_wal_senders=5"]
        settings += ["hot_standby=on", "wal_keep_size=64MB"]
        primary = _pg_server("postgres-primary", roots[0], data, free_port(), settings)
        servers.append(primary)
        primary.start()
        psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"]
        _run([*psql, "-d", "postgres", "-c", "CREATE DATABASE userstore"], "CREATE DATABASE")
        replica_data = roots[1] / "data"
        _run(
            [
                str(PG_BIN / "pg_basebackup"),
                "-R",
                "-D",
                str(replica_data),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            "pg_basebackup",
            user=PG_USER,
        )
        replica = _pg_server("postgres-replica", roots[1], replica_data, free_port(), settings)
        servers.append(replica)
        replica.start()
        yield PrimaryReplica(top, primary, replica, time.monotonic() - began)
    finally:
        for server in reversed(servers):
            server.stop()
        _remove(top)


APP_USER = "userstore"
"""The MariaDB pair's user in its URLs: every right on database ``userstore``, no others."""


def _mariadb_query(port: int, query: str, *, names: bool = False) -> str:
    """The tab-separated answer of ``query`` on the server at ``port`` (raises on an error).

    With ``names``, the first line holds the column names.
    """
    options = ["-B"] if names else ["-B", "-N"]
    done = subprocess.run(
        [*_mariadb_client(port), *options, "-e", query], capture_output=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise RuntimeError(f"{query!r} failed ({done.returncode}): {output[-2000:]}")
    return done.stdout.decode(errors="replace")


def _mariadb_node(name: str, root: Path, template: Path, options: list[str]) -> KillableServer:
    data = root / "data"
    root.mkdir()
    shutil.copytree(template, data, symlinks=True)
    port = free_port()
    command = ["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}"]
    command += ["--bind-address=127.0.0.1", f"--socket={root / 'sock'}"]
    command += [f"--pid-file={root / 'pid'}", *(["--user=root"] if os.geteuid() == 0 else [])]
    command += ["--skip-name-resolve", "--innodb-buffer-pool-size=32M"]
    command += ["--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0"]
    command += ["--max-connections=100", *options]
    ready = [*_mariadb_client(port), "-e", "SELECT 1"]
    url = f"mysql+aiomysql://{APP_USER}@127.0.0.1:{port}/userstore"
    # SIGTERM is mariadbd's shutdown: connections are killed, transactions rolled back
    return KillableServer(name, root, port, url, command, ready, signal.SIGTERM)


def _wait_until(what: str, check: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def _slave_status(port: int) -> dict[str, str]:
    lines = _mariadb_query(port, "SHOW SLAVE STATUS", names=True).split("\n")
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False))


@contextlib.contextmanager
def mariadb_primary_replica() -> Iterator[PrimaryReplica]:
    """A MariaDB primary and a read-only replica of it (see the module docstring)."""
    _require("mariadb-replica", ["mariadb-install-db", "mariadbd", "mariadb"])
    began = time.monotonic()
    top = Path(tempfile.mkdtemp(prefix="userstore-mariadb-replica-"))
    servers: list[KillableServer] = []
    try:
        template = _installed_datadir()
        primary_options = ["--log-bin=primary-bin", "--server-id=1", "--binlog-format=ROW"]
        primary = _mariadb_node("mariadb-primary", top / "primary", template, primary_options)
        replica_options = ["--server-id=2", "--read-only=ON", "--skip-log-bin"]
        replica_options.append("--relay-log=replica-relay-bin")
        replica = _mariadb_node("mariadb-replica", top / "replica", template, replica_options)
        for server in (primary, replica):
            servers.append(server)
            server.start()
        _mariadb_query(
            replica.port,
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
            "MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, "
            "MASTER_CONNECT_RETRY=1; START SLAVE",
        )

        status: dict[str, str] = {}

        def replicating() -> bool:
            status.update(_slave_status(replica.port))
            running = ("Slave_IO_Running", "Slave_SQL_Running")
            return all(status.get(key) == "Yes" for key in running)

        try:
            _wait_until("replica threads running", replicating)
        except RuntimeError as exc:
            errors = {k: v for k, v in status.items() if "Running" in k or "Error" in k}
            raise RuntimeError(f"{exc}: {errors}") from None
        # root holds READ_ONLY ADMIN (in ALL PRIVILEGES), which --read-only lets write:
        # the URLs name a user with rights on database userstore alone, as an application's
        _mariadb_query(
            primary.port,
            "CREATE DATABASE userstore CHARACTER SET utf8mb4; "
            f"CREATE USER {APP_USER}@'127.0.0.1'; "
            f"GRANT ALL PRIVILEGES ON userstore.* TO {APP_USER}@'127.0.0.1'",
        )

        def replicated() -> bool:
            found = _mariadb_query(
                replica.port,
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'userstore' "
                f"UNION ALL SELECT COUNT(*) FROM mysql.user WHERE User = '{APP_USER}'",
            )
            return found.split() == ["1", "1"]

        _wait_until("database and user userstore on the replica", replicated)
        yield PrimaryReplica(top, primary, replica, time.monotonic() - began)
    finally:
        for server in reversed(servers):
            server.stop()
        _remove(top)


def main(argv: list[str]) -> int:
    """Start a cluster by hand: ``galera [NODES]``, ``replica`` or ``replica-mariadb``."""
    what = argv[0] if argv else ""
    if what == "galera":
        manager: contextlib.AbstractContextManager[GaleraCluster | PrimaryReplica]
        manager = galera_cluster(int(argv[1]) if len(argv) > 1 else 3)
    elif what == "replica":
        manager = postgres_primary_replica()
    elif what == "replica-mariadb":
        manager = mariadb_primary_replica()
    else:
        print(
            "usage: python -m tests.scaleout.servers galera [NODES] | replica | replica-mariadb",
            file=sys.stderr,
        )
        return 2
    with manager as running:
        print(f"started in {running.startup_s:.2f} s, under {running.root}")
        if isinstance(running, GaleraCluster):
            for node in running.nodes:
                print(f"{node.name}: {node.url}  (log {node.log})")
        else:
            for server in (running.primary, running.replica):
                print(f"{server.name}: {server.url}  (log {server.log})")
        print("Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        # a second Ctrl-C (or a group-wide signal) must not cut the shutdown short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # a kill stops the servers too
    try:
        sys.exit(main(sys.argv[1:]))
    except pytest.skip.Exception as exc:  # binaries missing
        print(exc, file=sys.stderr)
        sys.exit(1)
