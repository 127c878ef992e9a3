"""Run untrusted code (model completions) in a contained child process.

Each run gets its own process tree, a fresh temporary working directory, a minimal environment
(no API keys, ``HOME`` and ``TMPDIR`` inside the directory) and resource limits (wall clock, CPU,
address space, processes, file size, open files). Where the system allows it, the process also gets:

- a new network namespace (no interface but a loopback that is down: nothing can be reached);
- a new PID namespace, so that when the program ends every process it started dies with it (a fork
  bomb or a daemonised child cannot outlive the run);
- an unprivileged uid when the harness runs as root (``nobody`` for the first parallel slot, then
  uids below 65534 that no user or group has: one per slot, so that the per-uid process limit
  of one run does not count another's processes), so the program cannot write to the project or
  anywhere a normal user cannot;
- a private mount namespace in which every mount but the sandbox's own directory is read-only, so
  even world-writable places (``/tmp``, ``/dev/shm``) refuse its writes; in it, empty tmpfs hide
  the project, the virtualenv (e.g. HumanEval's reference answers) and ``/root``, ``/home`` (but
  not one that holds the interpreter), and a proc of the new PID namespace shows the program only
  its own processes (no host command line);
- a cgroup of its own (cgroup v2, else the v1 memory and pids hierarchies) bounding the memory and
  the process count of the run as a whole, not only per process; removed after the run.

A small launcher does this, written below as source run by the harness's own interpreter::

    harness ──► launcher (root)          joins the cgroup, unshare(NET|PID|NS), read-only view
                 └─► init (pid 1)        mounts its proc; dies with the launcher (PDEATHSIG); its
                      │                  exit kills the rest
                      └─► worker         drops to the slot's uid, sets rlimits, chdir, exec python -I

Every isolation that was not available is reported in ``SandboxResult`` rather than silently
assumed (``isolation_notes``).
"""

from __future__ import annotations

import contextlib
import functools
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
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
    max_processes: int = 64  # per run: the run's cgroup (pids.max), else its slot's own uid
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
    project_hidden: bool = False  # project, virtualenv and home directories were hidden
    private_proc: bool = False  # /proc showed the program's own processes only
    cgroup_limited: bool = False  # memory and process count were bounded for the run as a whole
    attested: bool = False  # the program wrote back the run's token (see ``run_python(attest=)``)

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
        if not self.project_hidden:
            missing.append("project and home directories readable")
        if not self.private_proc:
            missing.append("host processes visible in /proc")
        if not self.cgroup_limited:
            missing.append("no cgroup: memory bounded per process only")
        return "; ".join(missing)


# The launcher runs as ``python -I -S -c LAUNCHER CONFIG_JSON``. It is kept as plain source so that
# no import of the harness (and no file the sandboxed uid may not read) is needed at launch.
LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
# Join the run's cgroup(s) first, so that every process started from here on is counted in them.
cgroup = bool(cfg["cgroup_procs"])
for procs in cfg["cgroup_procs"]:
    try:
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))
    except OSError:
        cgroup = False
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

def mount(source, target, flags, fstype=None, data=None):
    return libc.mount(source, target, fstype, flags, data) == 0

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

def hide(paths):
    # An empty read-only tmpfs over each directory the program has no business reading (the
    # project, the virtualenv with the benchmarks' reference answers, home directories).
    done = True
    for path in paths:
        if os.path.isdir(path):
            done = mount(b"tmpfs", path.encode(), 2 | 4 | 8 | MS_RDONLY, b"tmpfs", b"size=4k,mode=755") and done
    return done

read_only = read_only_view() if cfg["read_only"] else False
hidden = hide(cfg["hide"]) if read_only else False
with open(cfg["status_path"], "w") as fh:
    json.dump({"net": net, "pid": pid_ns, "unprivileged": drop or not root, "read_only": read_only,
               "hidden": hidden, "cgroup": cgroup}, fh)

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
    # A proc of its own namespace shows the program its own processes only (no host command line).
    private_proc = pid_ns and read_only and mount(b"proc", b"/proc", 2 | 4 | 8, b"proc")
    with open(cfg["proc_path"], "w") as fh:
        json.dump({"private_proc": private_proc}, fh)
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

_max_parallel = max(1, min(4, os.cpu_count() or 1))
_busy_slots: set[int] = set()
_slots_changed = threading.Condition()


def set_max_parallel(count: int) -> None:
    """Bound how many sandboxed programs run at once in this process (default: min(4, CPUs))."""
    global _max_parallel
    if count < 1:
        raise ValueError("at least one sandbox must be allowed to run")
    with _slots_changed:
        _max_parallel = count
        _slots_changed.notify_all()


@contextlib.contextmanager
def _slot() -> Iterator[int]:
    """A parallel slot (0, 1, ...): at most ``_max_parallel`` are held at once."""
    with _slots_changed:
        _slots_changed.wait_for(lambda: len(_busy_slots) < _max_parallel)
        slot = min(set(range(len(_busy_slots) + 1)) - _busy_slots)
        _busy_slots.add(slot)
    try:
        yield slot
    finally:
        with _slots_changed:
            _busy_slots.discard(slot)
            _slots_changed.notify_all()


@functools.cache
def uid_for_slot(slot: int) -> int:
    """The unprivileged uid of a parallel slot: ``nobody`` (65534) for slot 0, then the uids below it
    that no user or group of this system has, so that RLIMIT_NPROC (counted per uid) is per slot."""
    uid, free = NOBODY, -1
    while True:
        if uid == NOBODY or not _uid_or_gid_taken(uid):
            free += 1
            if free == slot:
                return uid
        uid -= 1
        if uid < 1000:
            raise RuntimeError("no free uid for another sandbox slot")


def _uid_or_gid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(uid)
        return True
    except KeyError:
        return False


def _cgroup_dirs() -> list[tuple[str, Path]]:
    """Where a run's cgroup can be made: [("v2", parent)] on a writable cgroup2 hierarchy with the
    memory and pids controllers, else [("v1", memory parent), ("v1", pids parent)], else []."""
    root = Path("/sys/fs/cgroup")
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    paths = dict((line.split(":", 2)[1], line.split(":", 2)[2]) for line in own if line.count(":") >= 2)
    if (root / "cgroup.controllers").exists():  # unified hierarchy
        base = root / paths.get("", "/").lstrip("/")
        try:
            controllers = (base / "cgroup.controllers").read_text().split()
            if {"memory", "pids"} <= set(controllers):
                (base / "cgroup.subtree_control").write_text("+memory +pids")
                return [("v2", base)]
        except OSError:
            pass
        return []
    found = []
    for name in ("memory", "pids"):
        mount = root / name
        own_dir = mount / paths.get(name, "/").lstrip("/")
        base = own_dir if own_dir.is_dir() else mount
        if not os.access(base, os.W_OK):
            return []
        found.append(("v1", base))
    return found


def _make_cgroups(limits: Limits) -> list[Path]:
    """The run's own cgroup directories with its limits set ([] when cgroups are unavailable)."""
    made: list[Path] = []
    name = f"evals-sandbox-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        for kind, base in _cgroup_dirs():
            group = base / name
            group.mkdir()
            made.append(group)
            settings = {
                "memory.max": limits.memory_bytes,
                "memory.swap.max": 0,
                "pids.max": limits.max_processes + 2,  # + the launcher and init
                "memory.limit_in_bytes": limits.memory_bytes,
                "memory.memsw.limit_in_bytes": limits.memory_bytes,
            }
            for key, value in settings.items():
                if (group / key).exists():
                    (group / key).write_text(str(value))
            if kind == "v2" and not (group / "memory.max").exists():
                raise OSError("no memory controller")
    except OSError:
        _remove_cgroups(made)
        return []
    return made


def _oom_killed(groups: list[Path]) -> bool:
    for group in groups:
        for name in ("memory.events", "memory.oom_control"):
            try:
                for line in (group / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
            except (OSError, ValueError):
                pass
    return False


def _remove_cgroups(groups: list[Path]) -> None:
    for group in groups:
        for _ in range(50):
            try:
                if (group / "cgroup.kill").exists():
                    (group / "cgroup.kill").write_text("1")
                else:
                    for pid in (group / "cgroup.procs").read_text().split():
                        with contextlib.suppress(OSError):
                            os.kill(int(pid), signal.SIGKILL)
                group.rmdir()
                break
            except OSError:
                time.sleep(0.02)


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
    attest: bool = False,
) -> SandboxResult:
    """Run ``source`` as a Python program in a sandbox and report how it ended.

    ``files`` are extra files written into the working directory first (name -> text). The call
    blocks; at most ``set_max_parallel`` programs run at once, callers beyond that wait their turn.

    With ``attest``, the program can read a random one-time token from the pipe whose descriptor is
    in ``$EVALS_TOKEN_FD`` and later write it back to the one in ``$EVALS_REPORT_FD``; the result's
    ``attested`` says whether it did. The token is in no file, argument or variable, so a program
    can only echo it if its trusted part read it (see ``evals.scorers.code_exec``).
    """
    limits = limits or Limits()
    with _slot() as slot:
        return _run(source, limits, stdin, files or {}, drop_privileges, read_only_root, attest, slot)


def _hidden_dirs(interpreter: str, rw_dir: str) -> list[str]:
    """Directories to hide from the program: the project (the directory holding ``evals``), the
    virtualenv, /root and /home -- except one that holds the interpreter or the sandbox directory."""
    project = Path(__file__).resolve().parent.parent
    candidates = [str(project), "/root", "/home"]
    if os.path.realpath(sys.prefix) != os.path.realpath(sys.base_prefix):
        candidates.append(os.path.realpath(sys.prefix))
    needed = [Path(os.path.realpath(interpreter)).parent.parent, Path(rw_dir)]
    return [
        path
        for path in dict.fromkeys(candidates)
        if path != "/" and not any(n == Path(path) or Path(path) in n.parents for n in needed)
    ]


def _run(
    source: str,
    limits: Limits,
    stdin: str,
    files: dict[str, str],
    drop_privileges: bool,
    read_only_root: bool,
    attest: bool,
    slot: int,
) -> SandboxResult:
    is_root = os.geteuid() == 0
    # Each parallel slot has its own uid, so that the per-uid process limit is per run.
    drop_to = uid_for_slot(slot) if (is_root and drop_privileges) else None
    interpreter = interpreter_for(drop_to)
    if interpreter is None and drop_to is not None:
        drop_to = None  # no interpreter that nobody can run: run as is, and say so in the result
        interpreter = interpreter_for(None)
    assert interpreter is not None
    # The real file, not a virtualenv's link to it: the program gets the bare standard library (no
    # site-packages holding, e.g., HumanEval's reference answers) and the virtualenv can be hidden.
    interpreter = os.path.realpath(interpreter)
    outer = Path(tempfile.mkdtemp(prefix="evals-sandbox-"))
    groups = _make_cgroups(limits)
    pipes: list[int] = []
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
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        token = secrets.token_hex(16).encode()
        pass_fds: tuple[int, ...] = ()
        if attest:
            token_r, token_w = os.pipe()
            report_r, report_w = os.pipe()
            pipes += [token_r, token_w, report_r, report_w]
            os.write(token_w, token)
            os.close(token_w)
            pipes.remove(token_w)
            os.set_blocking(report_r, False)
            pass_fds = (token_r, report_w)
            env["EVALS_TOKEN_FD"], env["EVALS_REPORT_FD"] = str(token_r), str(report_w)
        config = {
            "drop_to": drop_to,
            "cgroup_procs": [str(group / "cgroup.procs") for group in groups],
            "hide": _hidden_dirs(interpreter, os.path.realpath(outer)),
            "proc_path": str(outer / "proc.json"),
            "status_path": str(outer / "status.json"),
            "rw_dir": os.path.realpath(outer),
            "read_only": read_only_root,
            "exit_path": str(outer / "exit.json"),
            "cwd": str(work),
            "argv": [interpreter, "-I", "-B", "main.py"],
            "env": env,
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
                pass_fds=pass_fds,
            )
            for fd in pass_fds:  # the child's ends: the parent keeps only the report's read end
                os.close(fd)
                pipes.remove(fd)
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
            private_proc = bool(json.loads((outer / "proc.json").read_text())["private_proc"])
        except (OSError, ValueError, KeyError):
            private_proc = False
        attested = False
        if attest:
            report = b""
            with contextlib.suppress(OSError):  # non-blocking: a stray writer cannot hang us
                report = os.read(pipes[-1], 4096)
            attested = secrets.compare_digest(report, token)
        oom = _oom_killed(groups)
        try:
            cpu_used = float(json.loads((outer / "exit.json").read_text())["cpu"])
        except (OSError, ValueError, KeyError):
            cpu_used = 0.0
        stdout = _read(out_path, limits.max_output_chars)
        stderr = _read(err_path, limits.max_output_chars)
        kind, reason = _classify(None if timed_out else proc.returncode, timed_out, stderr, limits, cpu_used)
        if oom and not timed_out:  # a process of the run was killed for the run's memory limit
            kind, reason = "memory_limit", f"memory limit of {limits.memory_bytes >> 20} MiB exceeded"
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
            project_hidden=bool(status.get("hidden")),
            private_proc=private_proc,
            cgroup_limited=bool(status.get("cgroup")),
            attested=attested,
            reason=reason,
        )
    finally:
        for fd in pipes:
            os.close(fd)
        _remove_cgroups(groups)
        shutil.rmtree(outer, ignore_errors=True)
