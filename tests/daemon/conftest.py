"""A real daemon process in user mode on a temporary socket."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shepherd.ipc.client import Client
from shepherd.ipc.protocol import INVALID_PARAMS, RpcError
from shepherd.store import Store
from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, kill, populated, remove
from shepherd.supervisor.instance import instance_id
from shepherd.supervisor.starter import PUMP_NAME

if TYPE_CHECKING:
    from tests.daemon.namespaces import Namespace, NamespacedDaemon

ROOT = Path(__file__).resolve().parents[2]
ME = getpass.getuser()


class EventStream:
    """A subscribed connection, read with deadlines."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self.sock.sendall(b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
        assert json.loads(self.file.readline())["result"] == {"subscribed": True}

    def next(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        return self.next_of((kind,), timeout)

    def next_of(self, kinds: tuple[str, ...], timeout: float = 15.0) -> dict[str, Any]:
        """The next event of any of ``kinds`` (its ``type`` says which)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            line = self.file.readline()
            if not line:
                break
            message = json.loads(line)
            if message.get("params", {}).get("type") in kinds:
                return dict(message["params"])
        raise AssertionError(f"no {' or '.join(kinds)} event within {timeout}s")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class DaemonProcess:
    def __init__(self, policy: str, workdir: Path, rundir: Path,
                 env: dict[str, str] | None = None, system_mode: bool = False,
                 name: str = "s") -> None:
        self.extra_env = env or {}
        self.system_mode = system_mode
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.policy_path = workdir / "policy.toml"
        self.policy_path.write_text(policy)
        self.state = workdir / "state"
        self.socket = rundir / f"{name}.sock"
        self.log = workdir / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.prefix: list[str] = []  # run the daemon through this (e.g. nsenter)

    def start(self, wait: bool = True, settle: bool = True) -> DaemonProcess:
        """Start the daemon and wait until it answers (``wait=False``: return at once, to
        kill it inside its own start-up) and, with ``settle``, until the start's work after
        READY=1 is done (``health``'s ``settled``: the first look at the screens, whose
        report is an audit row a test reading the audit right away would race; ``False``
        for a test that acts inside that moment)."""
        if self.socket.exists():
            self.socket.unlink()
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.extra_env}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "shepherd", "daemon",
                 *([] if self.system_mode else ["--user", "--child", ME]),
                 "--policy", str(self.policy_path), "--state-dir", str(self.state),
                 "--socket", str(self.socket), "--log-level", "DEBUG"],
                stdout=log, stderr=log, env=env, cwd=ROOT)
        if not wait:
            return self
        # Up to a minute: a busy machine (several suites at once) starts Python slowly; a
        # daemon that exits early is seen at once.
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            if self.socket.exists():
                try:
                    with Client(self.socket) as client:
                        client.call("hello")
                        while settle and not client.call("health")["settled"]:
                            if time.monotonic() > give_up:
                                raise AssertionError("the daemon's start did not settle:\n"
                                                     + self.log.read_text())
                            time.sleep(0.02)
                    return self
                except AssertionError:
                    raise
                except Exception:
                    pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("daemon did not start:\n" + self.log.read_text())

    def client(self) -> Client:
        return Client(self.socket)

    def call(self, method: str, **params: Any) -> Any:
        with self.client() as client:
            return client.call(method, **params)

    def events(self) -> EventStream:
        return EventStream(self.socket)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def store(self) -> Store:
        """The store as the daemon holds it now: a copy it makes while it runs (no other
        process can open the live file), else the file itself, at rest."""
        if not self.running():
            return Store.open_readonly(self.state / "shepherd.db")
        return Store.open_readonly(self.copy())

    def copy(self) -> Path:
        """A consistent copy of the live store, made by the daemon (``store.backup``)."""
        copy = self.workdir / f"copy-{time.monotonic_ns()}.db"
        self.call("store.backup", path=str(copy))  # written even when the chain is broken
        return copy

    def audit(self, kind: str) -> list[dict[str, Any]]:
        store = self.store()
        try:
            rows = store.db.conn.execute("SELECT data FROM audit WHERE type = ? ORDER BY id",
                                         (kind,)).fetchall()
            return [json.loads(str(r[0])) for r in rows]
        finally:
            store.close()

    def supervision(self) -> str:
        """How this daemon holds membership, as it said at its last start."""
        return str(self.audit("service_started")[-1]["supervision"])

    def audit_types(self) -> list[str]:
        store = self.store()
        try:
            rows = store.db.conn.execute("SELECT type FROM audit ORDER BY id").fetchall()
            return [str(r[0]) for r in rows]
        finally:
            store.close()


def refused_params(d: DaemonProcess, method: str, **params: Any) -> RpcError:
    """``method`` called with ``params``, which it must refuse as INVALID_PARAMS (-32602):
    the error, for the test to read its words."""
    with pytest.raises(RpcError) as caught:
        d.call(method, **params)
    assert caught.value.code == INVALID_PARAMS, (method, params, caught.value)
    return caught.value


def marker_for(tmp_path: Path) -> str:
    """A word a test's programs carry in their command line, so that what is left of them
    is killed after it: the test's own (its temporary directory's name, which is unique
    only within one pytest process; ``./dev test`` runs several, named by xdist)."""
    return f"shepherd-test-marker-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{tmp_path.name}"


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    rundir = Path(tempfile.mkdtemp(prefix="shp"))  # short: socket paths are limited
    made: list[DaemonProcess] = []

    def make(policy: str, env: dict[str, str] | None = None, system_mode: bool = False,
             name: str | None = None, settle: bool = True) -> DaemonProcess:
        workdir = tmp_path / name if name else tmp_path
        daemon = DaemonProcess(policy, workdir, rundir, env, system_mode, name or "s")
        made.append(daemon)
        return daemon.start(settle=settle)

    make.rundir = rundir  # type: ignore[attr-defined]
    yield make
    for daemon in made:
        if daemon.process is not None and daemon.process.poll() is None:
            try:
                daemon.stop()  # stops its sessions too
            except subprocess.TimeoutExpired:
                daemon.process.kill()
                daemon.process.wait()
    subprocess.run(["pkill", "-KILL", "-f", marker_for(tmp_path)], check=False)
    for daemon in made:
        remove_session_groups(daemon.state)
    shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture
def tmpfs_daemon(tmp_path: Path) -> Iterator[Callable[..., NamespacedDaemon]]:
    """``tmpfs_daemon(policy, env, system_mode)``: a daemon started on a 3 MiB tmpfs of its
    own (``size``: another), its session numbers from 7001. ``start=False``: not started,
    and its state directory not made (the test's ``d.start()`` is its very first start)."""
    from tests.daemon.namespaces import Namespace, NamespacedDaemon, needs_namespaces

    needs_namespaces()
    rundir = Path(tempfile.mkdtemp(prefix="shp"))
    made: list[tuple[Namespace, NamespacedDaemon]] = []

    def make(policy_text: str, env: dict[str, str] | None = None, system_mode: bool = False,
             *, start: bool = True, size: str = "3m") -> NamespacedDaemon:
        namespace = Namespace(tmp_path / "state", size)
        daemon = NamespacedDaemon(namespace, policy_text, tmp_path, rundir, env, system_mode)
        made.append((namespace, daemon))
        if not start:
            daemon.state = namespace.mountpoint / "state"
            return daemon
        numbered = subprocess.run(
            [*namespace.prefix, sys.executable, "-c", "import sys; from pathlib import Path; "
             "from tests.daemon.conftest import number_sessions_from; "
             "number_sessions_from(Path(sys.argv[1]), 7001)", str(tmp_path / "state")],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            text=True)
        assert numbered.returncode == 0, numbered.stderr
        daemon.start()
        return daemon

    yield make
    for namespace, daemon in made:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.process.send_signal(signal.SIGTERM)
            try:
                daemon.process.wait(30)
            except subprocess.TimeoutExpired:
                daemon.process.kill()
        namespace.close()
    shutil.rmtree(rundir, ignore_errors=True)


def remove_session_groups(state: Path) -> None:
    """Kill and remove what a test daemon left in cgroups (after kill -9, or a failed test)."""
    mount, own = cgroup2_mount(), cgroup_of()
    if mount is None or own is None or not (state / "instance-id").exists():
        return
    subtree = mount / own.lstrip("/") / f"shepherd-{instance_id(state)}"
    if subtree.is_dir():
        for group in subtree.iterdir():
            if group.is_dir():
                kill(group)
        deadline = time.monotonic() + 10
        while populated(subtree) and time.monotonic() < deadline:
            time.sleep(0.02)
        remove(subtree)


def policy(entries: str, supervisor: str = 'stop_grace = "2s"', users: str = "",
           child: str = ME) -> str:
    return f"""
version = 1
[supervisor]
{supervisor}
default_warnings = []

[[users]]
name = "{child}"
{users}
{entries}
"""


def pump(pid: int) -> bool:
    """Whether ``pid`` is a session output's pump (whose command line, the starter's, holds
    its program's)."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().strip() == PUMP_NAME
    except OSError:
        return False


def marked_processes(marker: str) -> list[int]:
    """The live processes whose command line holds ``marker``: a session's programs (its
    output's pump, whose command line is the starter's with the program's in it, is not
    one of them)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                if marker.encode() in handle.read() and not pump(int(name)):
                    found.append(int(name))
            with open(f"/proc/{name}/stat") as handle:
                if handle.read().split(")")[-1].split()[0] == "Z":
                    found.remove(int(name))
        except (OSError, ValueError):
            continue
    return found


def number_sessions_from(state: Path, first: int) -> None:
    """Start a new store's session numbers at ``first``.

    Other daemons on a shared test machine (older code) find their sessions'
    escaped processes by a ``SHEPHERD_SESSION=<number>`` marker and may take a
    test's session 1 for their own; numbers far from theirs keep tests apart.
    """
    from datetime import UTC, datetime

    store = Store.open(state / "shepherd.db", datetime.now(UTC))
    try:
        with store.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO sessions (id, user, entry, started_at, ended_at, "
                         "end_reason) VALUES (?, 'nobody', 'none', ?, ?, 'launch_failed')",
                         (first - 1, datetime.now(UTC).isoformat(),
                          datetime.now(UTC).isoformat()))
    finally:
        store.close()


NOBODY_PYTHON = "/usr/bin/python3"  # one a child may run (the test's own may sit in root's home)
# A program that notes each SIGTERM it hears (in the file ``argv[1]``) and runs on: it
# ends only by SIGKILL, at the grace's end.
COUNTS_SIGTERMS = """import signal, sys, time
def heard(*_):
    with open(sys.argv[1], "a") as notes:
        notes.write("T\\n")
signal.signal(signal.SIGTERM, heard)
while True:
    time.sleep(60)
"""


def nobodys_policy(entries: str, supervisor: str) -> str:
    """A system-mode policy whose child is ``nobody`` (its programs run as nobody)."""
    return policy(entries, supervisor, users="max_sessions = 2", child="nobody")


def counts_sigterms(notes: Path, marker: str) -> str:
    """The command (TOML) of a program run as nobody that notes each SIGTERM in ``notes``
    (in ``nobodys_dir``) and carries ``marker``."""
    return json.dumps([NOBODY_PYTHON, "-c", COUNTS_SIGTERMS, str(notes), marker])


@contextlib.contextmanager
def open_dir(prefix: str, mode: int) -> Iterator[Path]:
    """A temporary directory of ``mode``, outside the test's own (root's alone): one that
    ``nobody`` can reach (0o755) or write in (0o777); removed afterwards."""
    made = Path(tempfile.mkdtemp(prefix=prefix))
    made.chmod(mode)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def nobodys_dir() -> Iterator[Path]:
    """A directory a program run as nobody can write in."""
    with open_dir("shpnobody", 0o777) as made:
        yield made


def watch_end(pattern: str) -> dict[str, Any]:
    """The one process whose command line holds ``pattern``: ``pid``, and ``at`` (monotonic)
    once it is gone, seen through a pidfd by a thread of its own (when it ended, not when
    the test looked)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    [pid] = [int(p) for p in found.stdout.split() if not pump(int(p))]
    fd = os.pidfd_open(pid)
    seen: dict[str, Any] = {"pid": pid}

    def wait() -> None:
        try:
            select.select([fd], [], [], 300)
            seen["at"] = time.monotonic()
        finally:
            os.close(fd)

    threading.Thread(target=wait, daemon=True, name=f"end-of-{pid}").start()
    return seen


@pytest.fixture
def far_daemon_factory(daemon_factory: Any, tmp_path: Path) -> Any:
    """``daemon_factory`` whose first store numbers sessions from 7001 (see above)."""

    def make(*args: Any, **kwargs: Any) -> DaemonProcess:
        number_sessions_from(tmp_path / "state", 7001)
        return daemon_factory(*args, **kwargs)  # type: ignore[no-any-return]

    make.rundir = daemon_factory.rundir  # type: ignore[attr-defined]
    return make


# The quota day starts twelve hours from now: a test's hour of quota is an hour, whenever
# it runs (in the last hour before the day starts, a session also gets the next day's).
FAR_DAY_START = (f'stop_grace = "2s"\n'
                 f'day_starts_at = "{(time.localtime().tm_hour + 12) % 24:02d}:00"')


def noon_zone() -> str:
    """A fixed-offset zone whose clock reads between 12:00 and 13:00 now ("Etc/GMT-5" is
    UTC+5): a test that moves days near "now", with ``env={"TZ": noon_zone()}``, reads
    the same at any hour it runs (an hour near midnight moved dates under it)."""
    ahead = 12 - time.gmtime().tm_hour  # hours east of UTC, -11..12
    return "Etc/GMT" + (f"-{ahead}" if ahead > 0 else f"+{-ahead}")


def household_policy(entries: str, machine: str, *, users: str = "",
                     supervisor: str = 'stop_grace = "2s"') -> str:
    """A policy whose store is the household's (the service names the test's database)."""
    return policy(entries, supervisor, users) + f"""
[household]
store = "postgresql:///{{db}}?service=shepherd"
machine = "{machine}"
"""


@pytest.fixture
def household(daemon_factory: Any, pg_server: Any, pg_url: str, tmp_path: Path) -> Any:
    """``make(entries, users=...)``: two user-mode daemons, "laptop" and "desktop", each
    with its own state dir, sharing a fresh household database through a libpq
    service file (as a household's README setup does). ``make.url`` is the database;
    ``envs`` adds environment variables to one machine's daemon."""
    service = pg_server.service_file(tmp_path / "pg_service.conf", "shepherd", pg_url)
    dbname = pg_url.split("///", 1)[1].split("?", 1)[0]
    env = {"PGSERVICEFILE": str(service)}

    def make(entries: str, users: str = "", machines: tuple[str, ...] = ("laptop", "desktop"),
             supervisor: str = FAR_DAY_START,
             envs: dict[str, dict[str, str]] | None = None) -> list[DaemonProcess]:
        return [daemon_factory(household_policy(entries, m, users=users,
                                                supervisor=supervisor).replace("{db}", dbname),
                               env={**env, **(envs or {}).get(m, {})}, name=m)
                for m in machines]

    make.url = pg_url  # type: ignore[attr-defined]
    make.env = env  # type: ignore[attr-defined]
    return make


def wait_for(check: Any, timeout: float = 10.0, what: str = "the condition") -> Any:
    """Poll ``check()`` until it returns something true (never a timing assertion: the
    limit is generous, only there so a broken build fails instead of hanging)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s (last: {value!r})")
        time.sleep(0.02)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[list[Path], bool], None]]:
    probe = tmp_path / "probe"
    probe.write_text("x")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +i (root, a file system with attributes)")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    marked: set[Path] = set()

    def mark(paths: list[Path], on: bool) -> None:
        for path in paths:
            if path.exists():
                subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
                (marked.add if on else marked.discard)(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)
