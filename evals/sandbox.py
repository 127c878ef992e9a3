"""Run untrusted code (model completions) in a contained child process.

Each run gets its own process tree, a fresh temporary working directory, a minimal environment
(no API keys, ``HOME`` and ``TMPDIR`` inside the directory) and resource limits (wall clock, CPU,
address space, processes, file size, open files). Where the system allows it, the process also gets:

- a new network namespace (no interface but a loopback that is down: nothing can be reached);
- a new PID namespace, so that when the program ends every process it started dies with it (a fork
  bomb or a daemonised child cannot outlive the run);
- an unprivileged uid (``nobody``) when the harness runs as root, so the program cannot write to
  the project or anywhere a normal user cannot;
- a private mount namespace in which every mount but the sandbox's own directory is read-only, so
  even world-writable places (``/tmp``, ``/dev/shm``) refuse its writes.

A small launcher does this, written below as source run by the harness's own interpreter::

    harness ──► launcher (root)          unshare(NET|PID|NS), read-only view, writes what it got
                 └─► init (pid 1)        dies with the launcher (PDEATHSIG); its exit kills the rest
                      └─► worker         drops to nobody, sets rlimits, chdir, exec python -I

Every isolation that was not available is reported in ``SandboxResult`` rather than silently
assumed (``isolation_notes``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

NOBODY = 65534

SandboxStatus = Literal[
    "ok", "error", "timeout", "cpu_limit", "memory_limit", "file_size_limit", "killed", "launch_failed"
]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30  # address space
    max_processes: int = 64  # counted per uid: shared by sandboxes running at once as nobody
    max_file_bytes: int = 16 << 20  # also bounds what the program can print
    max_open_files: int = 256
    max_output_chars: int = 20_000  # kept of stdout and of stderr each


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one sandboxed program."""

    status: SandboxStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    network_isolated: bool
    pid_isolated: bool
    unprivileged: bool
    reason: str
    read_only_fs: bool = False  # everything but its own directory was mounted read-only

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def isolation_notes(self) -> str:
        """What isolation was missing, in words ('' when nothing was)."""
        missing = []
        if not self.network_isolated:
            missing.append("network isolation unavailable")
        if not self.pid_isolated:
            missing.append("PID namespace unavailable")
        if not self.unprivileged:
            missing.append("ran with the harness's privileges")
        if not self.read_only_fs:
            missing.append("read-only file system view unavailable")
        return "; ".join(missing)


# The launcher runs as ``python -I -S -c LAUNCHER CONFIG_JSON``. It is kept as plain source so that
# no import of the harness (and no file the sandboxed uid may not read) is needed at launch.
LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
NEWNET, NEWPID, NEWUSER = 0x40000000, 0x20000000, 0x10000000
PR_SET_PDEATHSIG = 1
def unshare(flags):
    return libc.unshare(flags) == 0
root = os.geteuid() == 0
net = pid_ns = False
if root:
    net = unshare(NEWNET)
    pid_ns = unshare(NEWPID)
elif unshare(NEWUSER | NEWNET | NEWPID):
    net = pid_ns = True
elif unshare(NEWUSER | NEWNET):
    net = True
drop = root and cfg["drop_to"] is not None

NEWNS, MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 1, 32, 4096, 16384, 1 << 18
KEEP = 2 | 4 | 8 | 1024 | 2048  # nosuid, nodev, noexec, noatime, nodiratime: locked flags to keep

def mount(source, target, flags):
    return libc.mount(source, target, None, flags, None) == 0

def unescape(path):
    return path.encode().decode("unicode_escape").encode("latin-1")

def read_only_view():
    # A private mount namespace where everything is read-only but the sandbox's own directory, so
    # even world-writable places (/tmp, /dev/shm) refuse the program's writes.
    if not (root and unshare(NEWNS) and mount(None, b"/", MS_REC | MS_PRIVATE)):
        return False
    keep = cfg["rw_dir"].encode()
    if not mount(keep, keep, MS_BIND | MS_REC):
        return False
    with open("/proc/self/mountinfo") as fh:
        points = [unescape(line.split()[4]) for line in fh]
    done = True
    for point in points:
        if point == keep:
            continue
        try:
            flags = os.statvfs(point).f_flag & KEEP
        except OSError:
            continue
        if not mount(None, point, MS_REMOUNT | MS_BIND | MS_RDONLY | flags):
            done = done and point.startswith((b"/proc", b"/sys"))
    return done

read_only = read_only_view() if cfg["read_only"] else False
with open(cfg["status_path"], "w") as fh:
    json.dump({"net": net, "pid": pid_ns, "unprivileged": drop or not root, "read_only": read_only}, fh)

def worker():
    if drop:
        os.setgroups([])
        os.setgid(cfg["drop_to"])
        os.setuid(cfg["drop_to"])
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    lim = cfg["limits"]
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory"], lim["memory"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize"], lim["fsize"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (lim["nofile"], lim["nofile"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(cfg["cwd"])
    os.umask(0o077)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])

def status_of(wait_status):
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)

def spawn(body):
    child = os.fork()
    if child == 0:
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            body()
        except BaseException as exc:
            os.write(2, ("sandbox: cannot start the program: %r\n" % (exc,)).encode())
            os._exit(125)
    return child

def init():
    # pid 1 of the new namespace: wait for the worker, and by exiting, end everything it left.
    worker_pid = spawn(worker)
    while True:
        done, wait_status, usage = os.wait4(-1, 0)
        if done == worker_pid:
            with open(cfg["exit_path"], "w") as fh:
                json.dump({"cpu": usage.ru_utime + usage.ru_stime, "status": status_of(wait_status)}, fh)
            os._exit(status_of(wait_status))

middle = spawn(init)
_, wait_status = os.waitpid(middle, 0)
sys.exit(status_of(wait_status))
"""

_slots = threading.BoundedSemaphore(max(1, min(4, os.cpu_count() or 1)))
_slots_lock = threading.Lock()


def set_max_parallel(count: int) -> None:
    """Bound how many sandboxed programs run at once in this process (default: min(4, CPUs))."""
    global _slots
    if count < 1:
        raise ValueError("at least one sandbox must be allowed to run")
    with _slots_lock:
        _slots = threading.BoundedSemaphore(count)


@functools.cache
def interpreter_for(uid: int | None) -> str | None:
    """A Python interpreter that ``uid`` can run (the harness's own if possible), or None.

    The harness's interpreter may live where an unprivileged user cannot read (a root-owned home),
    so a system interpreter is the fallback; each candidate is tried once, as that uid.
    """
    candidates = [sys.executable, getattr(sys, "_base_executable", sys.executable)]
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        found = shutil.which("python3", path=directory)
        if found:
            candidates.append(found)
    seen: set[str] = set()
    for candidate in candidates:
        if not candidate or candidate in seen:
            continue
        seen.add(candidate)
        if uid is None:
            return candidate
        try:
            probe = subprocess.run(
                [candidate, "-I", "-S", "-c", "import encodings, json"],
                user=uid,
                group=uid,
                extra_groups=[],
                cwd="/",
                env={"PATH": "/usr/bin:/bin"},
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def _read(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit * 4 + 1)
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "\n…[truncated]"


def _classify(
    returncode: int | None, timed_out: bool, stderr: str, limits: Limits, cpu_used: float
) -> tuple[SandboxStatus, str]:
    if timed_out:
        return "timeout", f"timed out after {limits.wall_seconds:g} s of wall-clock time"
    assert returncode is not None
    if returncode == 0:
        return "ok", "exited normally"
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if returncode == 125 and "sandbox: cannot start" in stderr:
        return "launch_failed", tail
    signum = returncode - 128 if returncode > 128 else None
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_used >= limits.cpu_seconds):
        return "cpu_limit", f"CPU time limit of {limits.cpu_seconds} s exceeded"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory_limit", f"memory limit of {limits.memory_bytes >> 20} MiB exceeded"
    if signum == signal.SIGXFSZ or "File too large" in stderr:
        return "file_size_limit", f"file size limit of {limits.max_file_bytes >> 20} MiB exceeded"
    if signum == signal.SIGKILL:
        return "killed", "killed (SIGKILL), most likely for memory"
    if signum is not None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return "killed", f"killed by {name}"
    return "error", tail or f"exit status {returncode}"


def run_python(
    source: str,
    *,
    limits: Limits | None = None,
    stdin: str = "",
    files: dict[str, str] | None = None,
    drop_privileges: bool = True,
    read_only_root: bool = True,
) -> SandboxResult:
    """Run ``source`` as a Python program in a sandbox and report how it ended.

    ``files`` are extra files written into the working directory first (name -> text). The call
    blocks; at most ``set_max_parallel`` programs run at once, callers beyond that wait their turn.
    """
    limits = limits or Limits()
    with _slots:
        return _run(source, limits, stdin, files or {}, drop_privileges, read_only_root)


def _run(
    source: str,
    limits: Limits,
    stdin: str,
    files: dict[str, str],
    drop_privileges: bool,
    read_only_root: bool,
) -> SandboxResult:
    is_root = os.geteuid() == 0
    drop_to = NOBODY if (is_root and drop_privileges) else None
    interpreter = interpreter_for(drop_to)
    if interpreter is None and drop_to is not None:
        drop_to = None  # no interpreter that nobody can run: run as is, and say so in the result
        interpreter = interpreter_for(None)
    assert interpreter is not None
    outer = Path(tempfile.mkdtemp(prefix="evals-sandbox-"))
    try:
        # The outer directory holds the harness's files (status, captured output); the program
        # only gets ``work``, owned by the uid it runs as.
        outer.chmod(0o711)
        work = outer / "work"
        work.mkdir(mode=0o700)
        (work / "main.py").write_text(source, encoding="utf-8")
        for name, text in files.items():
            target = (work / name).resolve()
            if work.resolve() not in target.parents:
                raise ValueError(f"sandbox file {name!r} would land outside the working directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if drop_to is not None:
            for path in [work, *work.rglob("*")]:
                os.chown(path, drop_to, drop_to)
        config = {
            "drop_to": drop_to,
            "status_path": str(outer / "status.json"),
            "rw_dir": os.path.realpath(outer),
            "read_only": read_only_root,
            "exit_path": str(outer / "exit.json"),
            "cwd": str(work),
            "argv": [interpreter, "-I", "-B", "main.py"],
            "env": {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(work),
                "TMPDIR": str(work),
                "LANG": "C.UTF-8",
                "PYTHONHASHSEED": "0",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            "limits": {
                "cpu": int(limits.cpu_seconds),
                "memory": int(limits.memory_bytes),
                "nproc": int(limits.max_processes),
                "fsize": int(limits.max_file_bytes),
                "nofile": int(limits.max_open_files),
            },
        }
        (outer / "stdin").write_text(stdin, encoding="utf-8")
        out_path, err_path = outer / "stdout", outer / "stderr"
        start = time.monotonic()
        timed_out = False
        with (
            (outer / "stdin").open("rb") as fin,
            out_path.open("wb") as fout,
            err_path.open("wb") as ferr,
        ):
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config)],
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                env={},
                cwd=str(outer),
                start_new_session=True,  # one process group to kill on timeout
                close_fds=True,
            )
            try:
                proc.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        duration = time.monotonic() - start
        try:
            status = json.loads((outer / "status.json").read_text())
        except (OSError, ValueError):
            status = {"net": False, "pid": False, "unprivileged": not is_root}
        try:
            cpu_used = float(json.loads((outer / "exit.json").read_text())["cpu"])
        except (OSError, ValueError, KeyError):
            cpu_used = 0.0
        stdout = _read(out_path, limits.max_output_chars)
        stderr = _read(err_path, limits.max_output_chars)
        kind, reason = _classify(None if timed_out else proc.returncode, timed_out, stderr, limits, cpu_used)
        return SandboxResult(
            status=kind,
            returncode=None if timed_out else proc.returncode,
            stdout=stdout,
            stderr=stderr,
            duration_s=duration,
            network_isolated=bool(status.get("net")),
            pid_isolated=bool(status.get("pid")),
            unprivileged=bool(status.get("unprivileged")),
            read_only_fs=bool(status.get("read_only")),
            reason=reason,
        )
    finally:
        shutil.rmtree(outer, ignore_errors=True)
