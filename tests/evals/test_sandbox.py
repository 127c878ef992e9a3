"""The sandbox contains what a model's code may do: loops, bombs, hogs, network and stray writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals import sandbox
from evals.sandbox import Limits, run_python, set_max_parallel

FAST = Limits(wall_seconds=5, cpu_seconds=2, memory_bytes=256 << 20, max_processes=16)


def test_ok_program_and_its_output() -> None:
    result = run_python("import sys\nprint(sys.stdin.read().upper())", stdin="hello", limits=FAST)
    assert result.ok and result.returncode == 0 and result.stdout == "HELLO\n"
    assert result.reason == "exited normally"


def test_exception_is_a_failure_with_the_reason() -> None:
    result = run_python("raise ValueError('bad input')", limits=FAST)
    assert result.status == "error" and result.reason == "ValueError: bad input"


def test_wall_clock_timeout() -> None:
    start = time.monotonic()
    result = run_python("import time\ntime.sleep(60)", limits=Limits(wall_seconds=1))
    assert result.status == "timeout" and "1 s" in result.reason
    assert time.monotonic() - start < 10


def test_infinite_loop_hits_the_cpu_limit() -> None:
    result = run_python("while True:\n    pass", limits=Limits(wall_seconds=10, cpu_seconds=1))
    assert result.status in ("cpu_limit", "timeout")
    assert not result.ok


def test_memory_hog_is_contained() -> None:
    hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))"
    result = run_python(hog, limits=Limits(wall_seconds=30, memory_bytes=256 << 20))
    assert result.status in ("memory_limit", "killed")
    assert "memory" in result.reason


def test_file_size_limit() -> None:
    result = run_python(
        "open('big', 'wb').write(b'x' * (8 << 20))", limits=Limits(wall_seconds=5, max_file_bytes=1 << 20)
    )
    assert result.status == "file_size_limit"


def _nobody_processes() -> int:
    uids = ",".join(str(sandbox.uid_for_slot(slot)) for slot in range(4))
    out = subprocess.run(["ps", "-u", uids, "-o", "pid="], capture_output=True, text=True)
    return len(out.stdout.split())


def test_fork_bomb_is_contained_and_leaves_nothing_behind() -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_python(bomb, limits=Limits(wall_seconds=2, cpu_seconds=2, max_processes=16))
    assert not result.ok
    if result.pid_isolated and result.unprivileged and os.geteuid() == 0:
        time.sleep(0.2)
        assert _nobody_processes() == 0


def test_background_child_does_not_outlive_the_run(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    drop.chmod(0o777)
    marker = drop / "still-alive"
    program = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(1.0)\n"
        f"    open({str(marker)!r}, 'w').write('x')\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    result = run_python(program, limits=FAST)
    assert result.ok
    if not result.pid_isolated:
        pytest.skip("no PID namespace here: a daemonised child can outlive the run")
    time.sleep(1.5)
    assert not marker.exists()


@pytest.fixture
def listening_port() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_network_is_unreachable(listening_port: int) -> None:
    program = f"import socket\nsocket.create_connection(('127.0.0.1', {listening_port}), timeout=2)\nprint('reached')"
    result = run_python(program, limits=FAST)
    if not result.network_isolated:
        assert "network isolation unavailable" in result.isolation_notes
        pytest.skip("network namespaces are not available here")
    assert result.status == "error" and "reached" not in result.stdout
    assert "Error" in result.reason


@pytest.mark.parametrize("read_only_root", [True, False], ids=["read-only-view", "uid-only"])
def test_writing_outside_its_directory_is_refused(tmp_path: Path, read_only_root: bool) -> None:
    outside = tmp_path / "project"
    outside.mkdir()
    outside.chmod(0o755)
    target = outside / "pwned.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST, read_only_root=read_only_root)
    if not result.unprivileged and not result.read_only_fs:
        pytest.skip("neither an unprivileged uid nor a read-only view is available here")
    assert result.status == "error"
    # Either defence may answer first (the kernel checks permissions before the mount's flags).
    refusals = ("PermissionError", "Read-only file system") if result.read_only_fs else ("PermissionError",)
    assert any(r in result.reason for r in refusals)
    assert not target.exists()


def test_world_writable_places_are_read_only_too() -> None:
    target = Path("/tmp") / f"evals-sandbox-escape-{os.getpid()}"
    result = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST)
    if not result.read_only_fs:
        assert "read-only file system view unavailable" in result.isolation_notes
        pytest.skip("no mount namespace here: /tmp stays writable to the program")
    assert result.status == "error" and "Read-only file system" in result.reason
    assert not target.exists()
    inside = run_python(
        "import os\nopen('a', 'w').write('1')\nopen(os.environ['TMPDIR'] + '/b', 'w').write('2')"
    )
    assert inside.ok, inside.reason


def test_environment_is_minimal_and_home_is_the_work_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "secret-value")
    program = "import os, json\nprint(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
    result = run_python(program, limits=FAST)
    assert result.ok
    assert "secret-value" not in result.stdout and "RUNWARE_API_KEY" not in result.stdout
    import json

    seen = json.loads(result.stdout)
    assert seen["env"]["HOME"] == seen["cwd"] == seen["env"]["TMPDIR"]


def test_extra_files_and_escape_attempt() -> None:
    result = run_python("print(open('data/x.txt').read())", files={"data/x.txt": "payload"}, limits=FAST)
    assert result.stdout == "payload\n"
    with pytest.raises(ValueError, match="outside"):
        run_python("pass", files={"../escape.txt": "x"}, limits=FAST)


def test_parallel_runs_are_bounded() -> None:
    set_max_parallel(2)
    try:
        results = []
        start = time.monotonic()
        threads = [
            threading.Thread(
                target=lambda: results.append(run_python("import time\ntime.sleep(0.6)", limits=FAST))
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
    finally:
        set_max_parallel(max(1, min(4, os.cpu_count() or 1)))
    assert len(results) == 4 and all(r.ok for r in results)
    assert elapsed >= 1.2  # two waves of two
    with pytest.raises(ValueError):
        set_max_parallel(0)


def test_attestation_needs_the_token_written_back() -> None:
    echo = (
        "import os\n"
        "token = os.read(int(os.environ['EVALS_TOKEN_FD']), 64)\n"
        "os.write(int(os.environ['EVALS_REPORT_FD']), token)\n"
    )
    assert run_python(echo, limits=FAST, attest=True).attested
    forged = "import os\nos.write(int(os.environ['EVALS_REPORT_FD']), b'0' * 32)\n"
    result = run_python(forged, limits=FAST, attest=True)
    assert result.ok and not result.attested
    assert not run_python("print(1)", limits=FAST).attested


def test_project_venv_and_host_processes_are_hidden() -> None:
    project = Path(sandbox.__file__).resolve().parent.parent
    program = (
        "import os\n"
        f"try:\n    open({str(project / 'evals' / '__init__.py')!r}).read(); print('READ')\n"
        "except OSError as e:\n    print('unreadable', type(e).__name__)\n"
        f"print('listing', os.listdir({str(project)!r}))\n"
        "print('pids', sum(p.isdigit() for p in os.listdir('/proc')))\n"
    )
    result = run_python(program, limits=FAST)
    assert result.ok, result.reason
    if not result.project_hidden:
        assert "project and home directories readable" in result.isolation_notes
        pytest.skip("no mount namespace here: the project stays readable")
    assert "READ" not in result.stdout and "listing []" in result.stdout
    if sys.prefix != sys.base_prefix:  # the virtualenv (HumanEval's reference answers) is hidden too
        venv = run_python(
            f"import os\np = {sys.prefix!r}\nprint(os.listdir(p) if os.path.isdir(p) else [])", limits=FAST
        )
        assert venv.stdout.strip() == "[]", venv.stdout
    if not result.private_proc:
        assert "host processes visible in /proc" in result.isolation_notes
        pytest.skip("no private /proc here")
    visible = int(result.stdout.split("pids ")[1].splitlines()[0])
    assert visible <= 2, result.stdout  # init and the program: nothing of the host


def test_total_memory_of_a_run_is_bounded_by_its_cgroup() -> None:
    program = (
        "import os, time\npids = []\n"
        "for i in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        b = bytearray(200 << 20)\n"
        "        for j in range(0, len(b), 4096):\n            b[j] = 1\n"
        "        time.sleep(0.5)\n        os._exit(0)\n"
        "    pids.append(pid)\n"
        "for pid in pids:\n    os.waitpid(pid, 0)\n"
    )
    result = run_python(program, limits=Limits(wall_seconds=15, memory_bytes=256 << 20))
    if not result.cgroup_limited:
        assert "no cgroup" in result.isolation_notes
        pytest.skip("no writable cgroup hierarchy with memory and pids controllers here")
    assert result.status == "memory_limit", (result.status, result.reason)


@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup-pids", "uid-per-slot"])
def test_one_runs_processes_do_not_starve_another(monkeypatch: pytest.MonkeyPatch, cgroups: bool) -> None:
    if not cgroups:  # the fallback: RLIMIT_NPROC only, counted per uid, and each slot has its own
        monkeypatch.setattr(sandbox, "_cgroup_dirs", list)
    hog = (
        "import os, time\nn = 0\n"
        "for i in range(14):\n"
        "    if os.fork() == 0:\n        time.sleep(1.5)\n        os._exit(0)\n"
        "    n += 1\n"
        "print('forked', n)\ntime.sleep(1.5)\n"
    )
    victim = (
        "import subprocess, sys\n"
        "print(subprocess.run([sys.executable, '-c', 'print(42)'], capture_output=True, text=True).stdout)"
    )
    limits = Limits(wall_seconds=8, cpu_seconds=4, memory_bytes=256 << 20, max_processes=16)
    out: dict[str, sandbox.SandboxResult] = {}
    thread = threading.Thread(target=lambda: out.setdefault("hog", run_python(hog, limits=limits)))
    thread.start()
    time.sleep(0.7)
    result = run_python(victim, limits=limits)
    thread.join()
    assert out["hog"].ok and "forked 14" in out["hog"].stdout, out["hog"].reason
    assert result.ok and result.stdout.strip() == "42", result.reason
    assert result.cgroup_limited is (cgroups and bool(sandbox._cgroup_dirs()))


def test_slot_uids_do_not_collide_with_real_users() -> None:
    import grp
    import pwd

    uids = [sandbox.uid_for_slot(slot) for slot in range(4)]
    assert uids[0] == sandbox.NOBODY and len(set(uids)) == 4
    for uid in uids[1:]:
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)
        with pytest.raises(KeyError):
            grp.getgrgid(uid)
