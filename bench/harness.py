"""What every benchmark shares: a real daemon on a temporary socket, figures read from
/proc, percentiles, the floor timers, and the tables of BENCHMARKS.md.

A benchmark module has ``run(quick: bool) -> Section`` and ends with
``harness.main(run)``, so it runs alone (``python bench/NAME.py [--quick] [--write]``)
and under ``bench/run``, which runs them all and rewrites their tables.

A daemon here is ``shepherd daemon --user`` (as root its sessions get cgroups)
with a ``NOTIFY_SOCKET`` this module reads: ``READY=1`` says when it is ready
(and how long it took), and the watchdog pings are counted. The socket is read
all the time, as systemd does: a full datagram queue would block the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import platform
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shepherd.ipc.client import Client  # noqa: E402
from shepherd.priority import DAEMON_NICE  # noqa: E402

ME = getpass.getuser()
PYTHON = sys.executable
# Stdlib-only helpers run as other uids with the system's Python: the venv's may sit
# under a directory they cannot enter.
OTHER_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else PYTHON
PROBE = BENCH / "probe.py"
CLIENTS = BENCH / "clients.py"
TICKS = os.sysconf("SC_CLK_TCK")
DOCUMENT = ROOT / "BENCHMARKS.md"
WATCHDOG_USEC = 120_000_000  # systemd/*.service: WatchdogSec=2min
UNIT_NICE = DAEMON_NICE  # systemd/shepherd.service: Nice=
NOBODY = pwd.getpwnam("nobody")  # the child of the benchmarks' system-mode daemons


# -- results ---------------------------------------------------------------------------
@dataclass
class Row:
    what: str
    figure: str
    goal: str = "—"
    floor: str = "—"
    met: bool | None = None  # None: no goal

    def cells(self) -> list[str]:
        mark = {True: "met", False: "**not met**", None: ""}[self.met]
        goal = f"{self.goal} ({mark})" if mark else self.goal
        return [self.what, self.figure, goal, self.floor]


@dataclass
class Section:
    """One benchmark's table in BENCHMARKS.md, between its two markers."""

    name: str
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quick: bool = False
    began: float = field(default_factory=time.time)
    load_before: str = field(default_factory=lambda: load_average())
    load_after: str = ""

    def add(self, what: str, figure: str, goal: str = "—", floor: str = "—",
            met: bool | None = None) -> None:
        self.rows.append(Row(what, figure, goal, floor, met))
        print(f"  {what}: {figure}" + (f"  [goal {goal}]" if goal != "—" else "")
              + (f"  [floor {floor}]" if floor != "—" else ""), flush=True)

    @property
    def shown_command(self) -> str:
        """The command as a reader types it in the checkout: the project's interpreter, which
        has what the benchmarks import (the machine's ``python`` may not: review-13-s26 L7)."""
        return re.sub(r"^python ", ".venv/bin/python ", self.command)

    def markdown(self) -> str:
        self.load_after = self.load_after or load_average()
        when = datetime.fromtimestamp(self.began).astimezone().strftime("%Y-%m-%d %H:%M %Z")
        lines = [
            f"<!-- bench:{self.name} begin (written by bench/run; edit the prose outside) -->",
            f"Command: `{self.shown_command}`{' (quick run)' if self.quick else ''}.  ",
            f"Machine: {machine()}.  ",
            f"Code: {code_version()}.  ",
            f"Date: {when}; load average {self.load_before} before, {self.load_after} after "
            f"(2 cores: above 2, other work was waiting for a core).",
            "",
            "| what | figure | goal | floor, same run |",
            "|---|---|---|---|",
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
        lines += [f"\n{note}" for note in self.notes]
        lines.append(f"<!-- bench:{self.name} end -->")
        return "\n".join(lines)


def code_version() -> str:
    """The commit measured (with "with changes not committed" when the tree differs
    from it, but for BENCHMARKS.md, which the run writes): a table names the code its
    figures are of."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no", "--", ".", ":!BENCHMARKS.md"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (", with changes not committed" if dirty else "")


def write_section(section: Section, document: Path = DOCUMENT) -> None:
    """Replace the section's block in the document (or add it, under its title, at the end)."""
    text = document.read_text() if document.exists() else "# Benchmarks\n"
    block = section.markdown()
    pattern = re.compile(rf"<!-- bench:{re.escape(section.name)} begin.*?"
                         rf"<!-- bench:{re.escape(section.name)} end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n## {section.title}\n\n{block}\n"
    document.write_text(text)


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    memory = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    import apsw
    return (f"{platform.machine()}, {os.cpu_count()} cores, {memory} GiB, CPython "
            f"{platform.python_version()}, SQLite {apsw.sqlitelibversion()}, "
            f"Linux {platform.release().split('-')[0]}")


def main(run: Callable[[bool], Section]) -> None:
    """A benchmark run alone: print its figures; ``--write`` also rewrites its table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it works")
    parser.add_argument("--write", action="store_true", help="rewrite its table in BENCHMARKS.md")
    args = parser.parse_args()
    section = run(args.quick)
    if args.write:
        write_section(section)


# -- figures ---------------------------------------------------------------------------
def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f} ms" if abs(value) < 10 else f"{value:.1f} ms"


def spread(samples: Sequence[float]) -> str:
    """p50 / p99 / max in milliseconds, with the count."""
    if not samples:
        return "no samples"
    return (f"p50 {ms(percentile(samples, 0.5))}, p99 {ms(percentile(samples, 0.99))}, "
            f"max {ms(max(samples))} ({len(samples)})")


@dataclass(frozen=True)
class ProcessFigures:
    cpu_s: float
    wakeups: int  # voluntary context switches of every thread: each is a sleep after a wake
    rss_mib: float


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def figures(pid: int) -> ProcessFigures:
    cpu = cpu_seconds(pid)
    wakeups = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    wakeups += int(line.split()[1])
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return ProcessFigures(cpu, wakeups, rss / 1024)


def process_start_wall(pid: int) -> float:
    """When ``pid`` began, on the wall clock (10 ms resolution: clock ticks since boot)."""
    start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot_wall = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return boot_wall + start_ticks / TICKS


class Watcher(threading.Thread):
    """Notes when each watched process is gone (its pidfd becomes readable)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.poll = select.poll()
        self.fds: dict[int, int] = {}
        self.gone: dict[int, float] = {}
        self.lock = threading.Lock()
        self.stopped = False
        self.late: list[int] = []

    def watch(self, key: int, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # gone already: no later than now
            self.gone[key] = time.time()
            self.late.append(key)
            return
        with self.lock:
            self.fds[fd] = key
            self.poll.register(fd, select.POLLIN)

    def run(self) -> None:
        while not self.stopped:
            for fd, _ in self.poll.poll(50):
                now = time.time()
                with self.lock:
                    key = self.fds.pop(fd)
                    self.poll.unregister(fd)
                self.gone[key] = now
                os.close(fd)


# -- the daemon --------------------------------------------------------------------------
class Daemon:
    """``shepherd daemon --user`` on a temporary socket and state directory."""

    def __init__(self, policy: str, workdir: Path, *, child: str | None = ME,
                 env: dict[str, str] | None = None, watchdog: bool = False,
                 nice: int | None = None) -> None:
        self.workdir = workdir
        self.nice = nice  # run as the shipped unit runs it (``as_the_unit``)
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)
        self.policy_path = workdir / "policy.toml"
        self.policy_path.write_text(policy)
        self.state = workdir / "state"
        self.socket = workdir / "s.sock"
        self.log = workdir / "daemon.log"
        self.child = child
        self.env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/root",
                    "LANG": "C.UTF-8", **(env or {})}
        if watchdog:
            self.env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        self.process: subprocess.Popen[bytes] | None = None
        self.pings = 0
        self.ready_cpu = 0.0  # the daemon's CPU seconds when it said READY=1
        self._ready = threading.Event()
        self._notify: socket.socket | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> float:
        """Start it; the seconds from exec to ``READY=1``."""
        if self.socket.exists():
            self.socket.unlink()
        notify_path = self.workdir / "notify"
        notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        # A reader, a flag and a list of its own for each start: an earlier start's reader
        # could take this one's READY=1 (review-13-s26 F2: once its socket was shut down
        # it spun on recv() until the close, and a socket made meanwhile could take the
        # closed one's number) and set a flag it shared: IndexError below.
        ready = self._ready = threading.Event()
        ready_at: list[float] = []
        self._reader = threading.Thread(target=self._read_notify,
                                        args=(self._notify, ready_at, ready), daemon=True)
        self._reader.start()
        command = [PYTHON, "-m", "shepherd", "daemon", "--user",
                   *(["--child", self.child] if self.child else []),
                   "--policy", str(self.policy_path), "--state-dir", str(self.state),
                   "--socket", str(self.socket), "--log-level", "WARNING"]
        if self.nice is not None:
            command = as_the_unit(command, self.nice)
        env = {**self.env, "NOTIFY_SOCKET": str(notify_path)}
        with self.log.open("ab") as log:
            began = time.perf_counter()
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        if not ready.wait(timeout) or not ready_at:
            self.kill9()
            raise RuntimeError(f"the daemon was not ready in {timeout:.0f}s; see {self.log}")
        os.chmod(self.socket, 0o666)  # subscribers and clients run as other uids too
        return ready_at[0] - began

    def _read_notify(self, sock: socket.socket, ready_at: list[float],
                     ready: threading.Event) -> None:
        while True:
            try:
                message = sock.recv(4096)
            except OSError:
                return
            if not message:  # shut down (``_close_notify``): this start is over
                return
            if message == b"READY=1":
                ready_at.append(time.perf_counter())
                with contextlib.suppress(OSError, AssertionError):
                    self.ready_cpu = self.figures().cpu_s
                ready.set()
            elif message == b"WATCHDOG=1":
                self.pings += 1

    def client(self, timeout: float = 60.0) -> Client:
        return Client(self.socket, timeout=timeout)

    def call(self, method: str, **params: Any) -> Any:
        with self.client() as client:
            return client.call(method, **params)

    def figures(self) -> ProcessFigures:
        return figures(self.pid)

    def stop(self, timeout: float = 60.0) -> None:
        """A clean stop (SIGTERM, as systemd stops it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._close_notify()

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_notify()

    def _close_notify(self) -> None:
        if self._notify is not None:
            with contextlib.suppress(OSError):
                self._notify.shutdown(socket.SHUT_RDWR)
            if self._reader is not None:  # closed only once its reader has left recv()
                self._reader.join(5)
            self._notify.close()
            self._notify = None


@contextlib.contextmanager
def daemon(policy: str, **options: Any) -> Iterator[Daemon]:
    """A started daemon in a temporary directory, stopped and cleaned up after."""
    with tempfile.TemporaryDirectory(prefix="shbench") as tmp:
        os.chmod(tmp, 0o755)  # clients of other uids reach the socket
        running = Daemon(policy, Path(tmp) / "d", **options)
        try:
            running.start()
            yield running
        finally:
            running.stop()


@contextlib.contextmanager
def household_daemon(policy: str, child: str, sessions: Sequence[tuple[str, str]]
                     ) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    """``shepherd daemon --user --child CHILD`` in a temporary directory, its socket waited
    for (then a second more), with ``sessions`` (entry, user) launched; yields the directory,
    the socket and the process, and stops it after. The TUI's benchmarks' household: its
    log goes to this terminal, and it runs with this process's environment."""
    with tempfile.TemporaryDirectory(prefix="shb") as tmp:
        base = Path(tmp)
        (base / "policy.toml").write_text(policy)
        sock = base / "s.sock"
        process = subprocess.Popen(
            [PYTHON, "-m", "shepherd", "daemon", "--user", "--child", child,
             "--policy", str(base / "policy.toml"), "--state-dir", str(base / "state"),
             "--socket", str(sock), "--log-level", "ERROR"], cwd=ROOT)
        try:
            for _ in range(200):
                if sock.exists():
                    break
                time.sleep(0.05)
            time.sleep(1)
            with Client(sock) as client:
                for entry, user in sessions:
                    client.call("launch", entry=entry, user=user)
            yield base, sock, process
        finally:
            process.terminate()
            process.wait(30)


def policy(entries: str, *, users: Sequence[str] = (ME,), supervisor: str = "",
           max_sessions: int = 1) -> str:
    """A policy text: ``[supervisor]`` lines, the users, then the entries' TOML."""
    people = "".join(f'[[users]]\nname = "{name}"\nmax_sessions = {max_sessions}\n'
                     for name in users)
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\n{supervisor}\n{people}{entries}')


def household_entries(count: int = 50, group: int = 20) -> str:
    """``count`` entries as a household writes them: quota, max run, cooldown, windows."""
    body = "".join(
        f'[[entries]]\nid = "e{i}"\nlabel = "Entry number {i}"\ncommand = ["sleep", "3600"]\n'
        f'limits = {{ daily_quota = "2h", max_run = "1h", cooldown = "10m" }}\n'
        f'windows = [ {{ days = "weekdays", start = "00:00", end = "24:00" }},'
        f' {{ days = "weekends", start = "00:00", end = "24:00" }} ]\n' for i in range(count))
    if group:
        body += ('[[groups]]\nid = "games"\nentries = ['
                 + ", ".join(f'"e{i}"' for i in range(group)) + ']\ndaily_quota = "3h"\n')
    return body


def probe_command(outdir: Path) -> str:
    """The TOML command of an entry whose program notes when SIGTERM reached it."""
    return json.dumps([PYTHON, "-I", "-S", str(PROBE), str(outdir)])


def call(sock: Path, method: str, **params: object) -> dict[str, object]:
    """One JSON-RPC call on a connection of its own, without the client library."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(sock))
        conn.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                 "params": params}).encode() + b"\n")
        answer = json.loads(conn.makefile("rb").readline())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return dict(answer["result"])


# -- programs started outside Shepherd, as the child ------------------------------------
def sleep_copies(*names: str) -> Path:
    """A new directory (for the caller to remove) with a copy of ``sleep`` under each name:
    programs a policy's ``detect = { exe = ... }`` can tell apart."""
    bin_dir = Path(tempfile.mkdtemp(prefix="shepherd-bench-"))
    bin_dir.chmod(0o755)
    for name in names:
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", bin_dir / name)
    return bin_dir


def as_nobody(path: Path) -> subprocess.Popen[bytes]:
    """``path 1000`` started as ``nobody`` (``setpriv``, as a terminal would); root only."""
    return subprocess.Popen(["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                             "--clear-groups", str(path), "1000"], stdin=subprocess.DEVNULL)


def until_running(path: Path) -> float:
    """Seconds from just before starting ``path`` as nobody until its program runs (its
    ``/proc/PID/exe`` is ``path``): the floor of a decision on it. Killed after."""
    t0 = time.monotonic()
    p = as_nobody(path)
    while True:
        try:
            if os.readlink(f"/proc/{p.pid}/exe") == str(path):
                break
        except OSError:
            pass
    took = time.monotonic() - t0
    p.kill()
    p.wait()
    return took


def until_dead(path: Path, timeout: float) -> float:
    """Seconds from just before starting ``path`` as nobody until the process is dead (a
    pidfd; a refusal), waited for ``timeout`` at the most."""
    t0 = time.monotonic()
    p = as_nobody(path)
    fd = os.pidfd_open(p.pid)
    select.select([fd], [], [], timeout)
    took = time.monotonic() - t0
    os.close(fd)
    p.wait()
    return took


# -- client load in other processes ------------------------------------------------------
def clients(sock: Path, method: str, seconds: float, connections: int,
            uid: int | None = None, most: int = 1 << 62) -> subprocess.Popen[str]:
    """``connections`` clients calling ``method`` in a loop (bench/clients.py); JSON on stdout."""
    return subprocess.Popen([PYTHON, "-I", str(CLIENTS), str(sock), method, str(seconds),
                             str(connections), str(most)], user=uid, stdout=subprocess.PIPE,
                            text=True, cwd="/", env={"PYTHONPATH": str(ROOT)})


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout)
    return dict(json.loads(out.strip().splitlines()[-1])) if out.strip() else {}


# -- CPU priority -------------------------------------------------------------------------
def as_the_unit(command: list[str], nice: int, *, autogroup: bool = False) -> list[str]:
    """``command`` started as systemd starts the shipped unit: a session of its own at the
    unit's ``Nice=``, then exec (same pid). ``autogroup``: also give that session's
    scheduling group the nice, as the daemon does for itself (``priority.hold_autogroup``),
    for a floor that must compete on the same terms."""
    lines = ["import os, sys", "os.setsid()", f"os.setpriority(os.PRIO_PROCESS, 0, {nice})"]
    if autogroup:
        lines += ["try:", f"    open('/proc/self/autogroup', 'w').write('{nice}')",
                  "except OSError:", "    pass"]
    lines.append("os.execv(sys.argv[1], sys.argv[1:])")
    return [PYTHON, "-I", "-S", "-c", "\n".join(lines), *command]


def priority_of(pid: int) -> str:
    """``nice N, scheduling group nice M`` as /proc tells it now."""
    try:
        nice = os.getpriority(os.PRIO_PROCESS, pid)
        group = Path(f"/proc/{pid}/autogroup").read_text().split()
    except OSError:
        return "gone"
    return f"nice {nice}" + (f", its scheduling group (autogroup) nice {group[-1]}"
                             if len(group) == 3 else "")


def runs_and_waits(pid: int) -> tuple[float, float]:
    """The main thread's CPU seconds run and seconds waited runnable for a CPU
    (``/proc/PID/task/PID/schedstat``); (0, 0) when gone."""
    try:
        ran, waited, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


# -- floors ---------------------------------------------------------------------------------
def floor_timers(outdir: Path, sessions: int, lanes: int, limits: Sequence[float],
                 nice: int | None = None) -> subprocess.Popen[str]:
    """A bare asyncio timer sending SIGTERM to the same probe program (bench/floor.py);
    ``nice``: at that priority, as the daemon (``as_the_unit``, its group's too)."""
    command = [PYTHON, "-I", str(BENCH / "floor.py"), str(outdir), str(sessions),
               str(lanes), ",".join(str(x) for x in limits)]
    if nice is not None:
        command = as_the_unit(command, nice, autogroup=True)
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd="/")


def bare_timer_lateness(runs: int, delay: float = 0.05) -> list[float]:
    """How late a bare asyncio ``call_at`` fires in this process, ``runs`` times."""
    async def all_runs() -> list[float]:
        loop = asyncio.get_running_loop()
        late = []
        for _ in range(runs):
            fired = loop.create_future()
            at = loop.time() + delay
            loop.call_at(at, lambda f=fired: f.set_result(loop.time()))
            late.append(float(await fired) - at)
        return late

    return asyncio.run(all_runs())


def interpreter_start(runs: int, *args: str) -> list[tuple[float, float]]:
    """(wall, CPU) seconds for ``python ARGS`` to start and exit, ``runs`` times."""
    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run([PYTHON, *args], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append((wall, after.ru_utime + after.ru_stime - before.ru_utime
                        - before.ru_stime))
    return samples


def kill_quietly(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def python_processes_named(fragment: str) -> list[int]:
    """Pids whose command line holds ``fragment`` (leftovers after a crash, for cleanup)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if fragment.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def which(name: str) -> str:
    return shutil.which(name) or name
