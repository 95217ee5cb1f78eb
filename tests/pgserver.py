"""A real PostgreSQL server for the tests, in a temporary directory, on a Unix socket.

``initdb`` refuses to run as root, so as root the server runs as ``nobody``
(through ``setpriv``); it listens on no TCP port, only on a socket in its own
directory, and trusts local connections (the tests connect as ``postgres``).
``.ci/run`` installs Debian's ``postgresql`` package when no server is found;
where none can be installed the tests that need one are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

_counter = itertools.count(1)


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``pg_config --bindir``, else Debian's layout."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                              check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0, reverse=True):
        candidates.append(Path(found))
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


class PgServer:
    """One server; ``database()`` makes a fresh database for each test."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="shpg"))  # short: socket paths are limited
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                            "--clear-groups"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args], cwd="/",
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def start(self, fsync: bool = False, settings: str = "") -> None:
        """Start (again); ``fsync``: durable commits (benchmarks), else fast (tests);
        ``settings``: more ``-c name=value`` options (benchmarks)."""
        options = (f"-k {self.dir} -c listen_addresses='' -c fsync={'on' if fsync else 'off'} "
                   f"-c max_connections=200 -c shared_buffers=16MB {settings}").strip()
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, dbname: str) -> str:
        return f"postgresql:///{dbname}?host={self.dir}&user=postgres"

    def database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def service_file(self, path: Path, service: str, url: str) -> Path:
        """A libpq service file naming the database of ``url`` (as a household's would)."""
        dbname = url.split("///", 1)[1].split("?", 1)[0]
        path.write_text(f"[{service}]\nhost={self.dir}\ndbname={dbname}\nuser=postgres\n")
        return path

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
