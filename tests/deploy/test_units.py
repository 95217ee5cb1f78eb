"""The systemd units verify, and their paths are the daemon's defaults."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shepherd.cli.daemon_cmd import SYSTEM_POLICY, SYSTEM_STATE
from shepherd.ipc.client import SYSTEM_SOCKET
from shepherd.policy.model import Supervisor

UNITS = Path(__file__).resolve().parents[2] / "systemd"
ROOT = Path(__file__).resolve().parents[2]
INSTALLED = "/opt/shepherd/bin/shepherd"


def unit_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@pytest.mark.parametrize(("unit", "user"), [("shepherd.service", False),
                                             ("shepherd-user.service", True),
                                             ("shepherd-agent.service", True)])
def test_unit_passes_systemd_analyze_verify(unit: str, user: bool, tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at an executable that does.
    copy = tmp_path / unit
    copy.write_text((UNITS / unit).read_text().replace(INSTALLED, sys.executable))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    args = [tool, "verify", "--man=no", *(["--user"] if user else []), str(copy)]
    done = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert unit not in done.stdout + done.stderr  # no warnings about the unit either


def test_system_unit_paths_are_the_daemon_defaults() -> None:
    values = unit_values(UNITS / "shepherd.service")
    command = shlex.split(values["ExecStart"])
    assert command[:2] == [INSTALLED, "daemon"]
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options == {"--policy": str(SYSTEM_POLICY), "--state-dir": str(SYSTEM_STATE),
                       "--socket": str(SYSTEM_SOCKET)}
    assert Path("/etc") / values["ConfigurationDirectory"] == SYSTEM_POLICY.parent
    assert Path("/var/lib") / values["StateDirectory"] == SYSTEM_STATE
    assert Path("/run") / values["RuntimeDirectory"] == SYSTEM_SOCKET.parent
    assert values["Type"] == "notify" and values["Restart"] == "always"
    assert "WatchdogSec" in values


def test_user_unit_runs_user_mode_with_its_defaults() -> None:
    values = unit_values(UNITS / "shepherd-user.service")
    assert shlex.split(values["ExecStart"]) == [INSTALLED, "daemon", "--user"]
    assert values["Type"] == "notify"


def test_sysusers_snippet_creates_the_policy_default_admin_group() -> None:
    lines = [line.split() for line in (UNITS / "shepherd.sysusers.conf").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines == [["g", Supervisor().admin_group, "-"]]


def seconds(value: str) -> float:
    units = {"min": 60, "s": 1, "h": 3600}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


@pytest.mark.parametrize("unit", ["shepherd.service", "shepherd-user.service"])
def test_the_watchdog_is_pinged_by_the_once_a_minute_clock_check(unit: str) -> None:
    from shepherd.daemon.core import CLOCK_CHECK_S

    # The daemon pings at half of WatchdogSec or at its clock check, whichever is
    # sooner; a watchdog of twice the clock check adds no wake-up of its own.
    assert seconds(unit_values(UNITS / unit)["WatchdogSec"]) >= 2 * CLOCK_CHECK_S


def test_user_unit_delegates_its_subtree_and_keeps_sessions_through_a_daemon_crash() -> None:
    values = unit_values(UNITS / "shepherd-user.service")
    assert values["Delegate"] == "yes"  # session cgroups live in the service's subtree
    assert values["KillMode"] == "process"  # a crash kills the daemon, not its sessions


def test_system_unit_sessions_are_units_of_their_own_outside_its_sandbox() -> None:
    values = unit_values(UNITS / "shepherd.service")
    # Sessions are transient units of the system manager, not descendants of this
    # service: its sandbox (read-only home, no devices, no IP) never reaches a program.
    assert "--backend" not in values["ExecStart"]  # auto: under systemd, transient units
    assert values.get("Delegate", "no") == "no"
    assert values["KillMode"] == "mixed" and values["ProtectControlGroups"] == "yes"
    assert values["ProtectHome"] == "read-only" and values["PrivateDevices"] == "yes"


def test_system_unit_may_hear_the_kernels_process_events() -> None:
    values = unit_values(UNITS / "shepherd.service")
    assert "AF_NETLINK" in values["RestrictAddressFamilies"].split()
    assert "CAP_NET_ADMIN" in values["CapabilityBoundingSet"].split()


def test_the_agent_runs_from_a_user_unit_or_an_autostart_file_that_validates() -> None:
    assert shlex.split(unit_values(UNITS / "shepherd-agent.service")["ExecStart"]) == [
        INSTALLED, "agent"]
    autostart = UNITS / "shepherd-agent.desktop"
    assert shlex.split(unit_values(autostart)["Exec"]) == [INSTALLED, "agent"]
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.fail("desktop-file-validate is missing (Debian: desktop-file-utils)")
    done = subprocess.run([tool, str(autostart)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


@pytest.mark.parametrize(("backend", "systemd_runs", "user_mode", "chosen"), [
    ("direct", True, False, "DirectBackend"),
    ("systemd", True, False, "SystemdBackend"),
    ("auto", True, False, "SystemdBackend"),  # the shipped system unit
    ("auto", False, False, "DirectBackend"),
    ("auto", True, True, "DirectBackend"),  # the user unit
])
def test_the_daemon_holds_sessions_with_the_backend_it_is_told(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, systemd_runs: bool,
        user_mode: bool, chosen: str) -> None:
    import shepherd.daemon.core as core
    from shepherd.policy import load_policy_text

    monkeypatch.setattr(core, "systemd_available", lambda: systemd_runs)
    policy = load_policy_text('version = 1\n[[users]]\nname = "kid"\n[[entries]]\nid = "game"\n'
                              'command = ["sleep", "1"]\n')
    config = core.DaemonConfig(tmp_path / "policy.toml", tmp_path / "state",
                               tmp_path / "sock", user_mode, "kid", backend)
    (tmp_path / "state").mkdir()
    assert type(core.Daemon(config, policy).backend).__name__ == chosen


def test_the_systemd_backend_is_refused_where_it_cannot_work(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shepherd", "daemon", "--user", "--backend", "systemd",
         "--policy", str(ROOT / "policy.example.toml"), "--state-dir", str(tmp_path / "s"),
         "--socket", str(tmp_path / "sock")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "--backend systemd needs system mode" in done.stderr
    assert not (tmp_path / "s").exists()  # refused before anything was made


def test_the_household_drop_in_verifies_and_opens_the_network(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # A drop-in's keys apply after the unit's: verify them as the unit's last lines.
    base = (UNITS / "shepherd.service").read_text().replace(INSTALLED, sys.executable)
    drop_in = (UNITS / "shepherd-household.conf").read_text()
    copy = tmp_path / "shepherd.service"
    copy.write_text(base + "\n" + drop_in)
    done = subprocess.run([tool, "verify", "--man=no", str(copy)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shepherd.service" not in done.stdout + done.stderr
    lines = drop_in.splitlines()
    assert "RestrictAddressFamilies=" in lines  # resets the base's local-only list
    assert "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6" in lines
    assert ("Environment=PGSERVICEFILE=/etc/shepherd/pg_service.conf "
            "PGPASSFILE=/etc/shepherd/pgpass") in lines


# -- system mode with the direct backend: the drop-in -------------------------------------
DROP_IN = UNITS / "shepherd.service.d" / "direct-backend.conf"


def with_drop_in(tmp_path: Path, drop_in: bool = True) -> Path:
    """The system unit (and the drop-in beside it, as installed), ExecStart made to exist."""
    tmp_path.mkdir(exist_ok=True)
    unit = tmp_path / "shepherd.service"
    unit.write_text((UNITS / "shepherd.service").read_text().replace(INSTALLED, sys.executable))
    if drop_in:
        (tmp_path / "shepherd.service.d").mkdir()
        (tmp_path / "shepherd.service.d" / DROP_IN.name).write_text(
            DROP_IN.read_text().replace(INSTALLED, sys.executable))
    return unit


def analyze(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run([tool, *args], capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})


def test_the_unit_with_the_direct_backend_drop_in_passes_systemd_analyze_verify(
        tmp_path: Path) -> None:
    unit = with_drop_in(tmp_path)
    done = analyze("verify", "--man=no", str(unit), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "shepherd.service" not in said and DROP_IN.name not in said  # no warnings either
    # With the household's drop-in too (installed as household.conf, read after ours).
    (tmp_path / "shepherd.service.d" / "household.conf").write_text(
        (UNITS / "shepherd-household.conf").read_text())
    done = analyze("verify", "--man=no", str(unit), tmp_path=tmp_path)
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr
    # verify reads the drop-in from beside the unit: a bad line in it is reported.
    broken = tmp_path / "shepherd.service.d" / DROP_IN.name
    broken.write_text(broken.read_text().replace("KillMode=process", "KillMode=sometimes"))
    assert DROP_IN.name in (lambda d: d.stdout + d.stderr)(
        analyze("verify", "--man=no", str(unit), tmp_path=tmp_path))


def test_the_drop_in_runs_the_same_daemon_with_the_direct_backend_in_a_delegated_subtree() -> None:
    lines = [line.strip() for line in DROP_IN.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[:3] == ["[Service]", "ExecStart=", lines[2]]  # cleared, then set once
    values = unit_values(DROP_IN)
    command = shlex.split(values["ExecStart"])
    unit_command = shlex.split(unit_values(UNITS / "shepherd.service")["ExecStart"])
    assert command == [*unit_command[:2], "--backend", "direct", *unit_command[2:]]
    assert values["Delegate"] == "yes" and values["ProtectControlGroups"] == "no"
    # A daemon crash kills the daemon only: its sessions' groups wait to be adopted.
    assert values["KillMode"] == "process"
    # What would break the child's programs (their descendants inherit it) is lifted.
    lifted = {"ProtectHome": "no", "PrivateDevices": "no", "PrivateTmp": "no",
              "ProtectClock": "no", "ProtectSystem": "full", "RestrictAddressFamilies": "",
              "NoNewPrivileges": "no", "RestrictNamespaces": "no",
              "SystemCallArchitectures": "", "LockPersonality": "no",
              "RestrictRealtime": "no"}
    assert {key: values.get(key) for key in lifted} == lifted


def security(unit: Path, tmp_path: Path) -> str:
    done = analyze("security", "--offline=true", "--no-pager", str(unit), tmp_path=tmp_path)
    if "--offline" in done.stderr and done.returncode != 0:
        pytest.skip(f"systemd-analyze security --offline is not supported: {done.stderr}")
    return done.stdout


@pytest.mark.parametrize("drop_in", [False, True])
def test_systemd_reads_the_merged_unit_as_delegated_only_with_the_drop_in(
        tmp_path: Path, drop_in: bool) -> None:
    report = {line.split()[1].split("=")[0]: line.split()[0]
              for line in security(with_drop_in(tmp_path, drop_in), tmp_path).splitlines()
              if line.startswith(("✓", "✗"))}
    # ✗: the service may do it (systemd's word for an option off).
    expected = "✗" if drop_in else "✓"
    for option in ("Delegate", "ProtectControlGroups", "PrivateDevices", "NoNewPrivileges",
                   "SystemCallArchitectures", "ProtectClock"):
        assert report[option] == expected, (option, report)
    assert report["ProtectKernelModules"] == "✓"  # kept with the drop-in too
    assert ("Service has full access to home directories" in security(
        with_drop_in(tmp_path / "again", drop_in), tmp_path)) is drop_in


def test_system_unit_may_load_the_childrens_exec_filter() -> None:
    # The eBPF exec filter (a tracepoint program and a ring buffer) needs CAP_BPF and
    # CAP_PERFMON: without them in the bounding set the shipped unit always fell back to
    # the proc connector, woken by every program start on the machine.
    capabilities = unit_values(UNITS / "shepherd.service")["CapabilityBoundingSet"].split()
    assert {"CAP_BPF", "CAP_PERFMON"} <= set(capabilities)
    assert "CAP_SYS_ADMIN" not in capabilities  # (it would do, and much more)


def test_the_system_unit_may_give_the_parents_socket_the_admin_group() -> None:
    # Without CAP_CHOWN the daemon cannot give shepherd-parents.sock the admin group, and
    # only root could use the door a flood cannot queue in front of (s12 flood12).
    capabilities = unit_values(UNITS / "shepherd.service")["CapabilityBoundingSet"].split()
    assert "CAP_CHOWN" in capabilities


def test_the_system_unit_runs_the_daemon_ahead_of_the_programs_it_supervises() -> None:
    """Issue 13: the daemon must not wait for a core behind the children's programs."""
    from shepherd.priority import DAEMON_CPU_WEIGHT, DAEMON_NICE, PROGRAM_NICE

    values = unit_values(UNITS / "shepherd.service")
    assert int(values["Nice"]) == DAEMON_NICE < PROGRAM_NICE
    assert int(values["CPUWeight"]) == DAEMON_CPU_WEIGHT > 100  # systemd's default weight
    # The alarm's nice -10, the daemon's scheduling group, a child's tool put back at 0.
    assert "CAP_SYS_NICE" in values["CapabilityBoundingSet"].split()
    # With the direct backend the sessions are inside the unit's cgroup: the unit's weight
    # would raise them too, so the drop-in puts it back; the daemon weighs its own leaf.
    assert unit_values(DROP_IN)["CPUWeight"] == "100"


def test_the_user_unit_asks_for_no_nice_it_could_not_get() -> None:
    # A user manager cannot start a service below nice 0: the unit would fail to start.
    values = unit_values(UNITS / "shepherd-user.service")
    assert "Nice" not in values and "CPUWeight" not in values
