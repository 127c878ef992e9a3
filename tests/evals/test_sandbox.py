"""The sandbox contains what a model's code may do: loops, bombs, hogs, network and stray writes."""

from __future__ import annotations

import os
import socket
import subprocess
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
    out = subprocess.run(["ps", "-u", str(sandbox.NOBODY), "-o", "pid="], capture_output=True, text=True)
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
