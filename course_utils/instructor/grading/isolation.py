"""Each submission's own folders, environment and, when grading as root, its own unprivileged user.

Two folders per submission, both fresh ``tempfile.mkdtemp`` folders outside the output folder, removed
afterwards::

    private/   the grader's (mode 0700): pytest.ini, the kernel spec and launch.json, jupyter's runtime
               folder (connection file), pytest's output. Nothing the kernel can read or name.
    kernel/    the kernel's (owned by the kernel's user, mode 0700):
        work/  its working folder, holding the restored notebook
        home/  HOME; .config (XDG_CONFIG_HOME, MPLCONFIGDIR under it), .cache (XDG_CACHE_HOME, TORCH_HOME),
               .local/share, .local/state, .ipython (IPYTHONDIR), .jupyter (JUPYTER_CONFIG_DIR)
        tmp/   TMPDIR, TEMP, TMP
        run/   XDG_RUNTIME_DIR, JUPYTER_RUNTIME_DIR, the kernel's copy of its connection file

The kernel gets a clean environment: the variables above, the few in :data:`PASS_THROUGH` and the
grader's own settings (threads, quiet mode, PYTHONPATH to the course package), nothing else.

As root (containers, CI) the kernel runs as a user of its own: a numeric uid/gid from
:data:`UID_RANGE` that no account in ``/etc/passwd`` and no running process has, claimed with a lock
so that two graders on one machine never share one. After the submission every process of that uid
is killed (``kill -9 -1`` run as that uid) and files it left in ``/tmp``, ``/var/tmp``, ``/dev/shm``
are removed, so nothing it started or wrote outlives it. Not as root, the kernel runs as your user
(see the threat model in docs/INSTRUCTORS.md).

Matplotlib's font list (seconds to build) is built once per grading process and copied into each
kernel's MPLCONFIGDIR.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "_launch.py"
KERNEL_NAME = "course-grading"
#: environment variables of the grader that reach the kernel unchanged (when set)
PASS_THROUGH = ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "COURSE_DEVICE",
                "PYTHONHASHSEED")
#: uids (and gids) a kernel may get when grading as root; ``COURSE_GRADING_UIDS=START-END`` overrides
UID_RANGE = (55000, 60000)
LEFTOVER_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
MAX_PROCESSES = 2048                 # RLIMIT_NPROC of a kernel's own uid (threads count): stops fork bombs


class IsolationError(RuntimeError):
    """The grader cannot give a kernel its own user (e.g. that user cannot read the course)."""


def as_root() -> bool:
    return os.geteuid() == 0


def _uid_range() -> range:
    text = os.environ.get("COURSE_GRADING_UIDS")
    if not text:
        return range(*UID_RANGE)
    try:
        start, end = (int(x) for x in text.split("-"))
    except ValueError:
        raise IsolationError(f"COURSE_GRADING_UIDS should look like 55000-60000, got {text!r}") from None
    return range(start, end)


def _known_uids() -> set:
    uids = set()
    try:
        for line in Path("/etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 3 and parts[2].isdigit():
                uids.add(int(parts[2]))
    except OSError:
        pass
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                uids.add(os.stat(entry.path).st_uid)
            except OSError:
                pass
    return uids


def _lock_dir() -> Path:
    """A root-only folder of lock files, one per uid in use (machine-wide on purpose: uids are)."""
    path = Path(tempfile.gettempdir()) / ".course-grading-uids"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise IsolationError(f"{path} is not a folder owned by root with mode 0700; remove it")
    return path


class KernelUser:
    """A uid/gid claimed for one submission's kernel (held until :meth:`release`)."""

    _lock = threading.Lock()

    def __init__(self):
        folder = _lock_dir()
        with KernelUser._lock:
            taken = _known_uids()
            candidates = [u for u in _uid_range() if u not in taken]
            random.shuffle(candidates)
            for uid in candidates:
                handle = open(folder / f"{uid}.lock", "w")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                self.uid = self.gid = uid
                self._handle = handle
                return
        raise IsolationError(f"no free uid left in {_uid_range()} for a kernel (set COURSE_GRADING_UIDS)")

    def kill_processes(self) -> None:
        """SIGKILL every process of this uid (``kill(-1)`` as the uid reaches exactly those)."""
        subprocess.run(["/bin/sh", "-c", "kill -9 -1 2>/dev/null; true"], user=self.uid, group=self.gid,
                       extra_groups=[], env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)

    def remove_leftovers(self) -> None:
        for folder in LEFTOVER_DIRS:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_uid != self.uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    pass

    def release(self) -> None:
        self.kill_processes()
        self.remove_leftovers()
        self._handle.close()


def blocked_folders(paths) -> dict:
    """{folder others may not enter: [its entries on the way to ``paths``]} (e.g. {"/root": ["/root/.pyenv"]})."""
    blocked: dict = {}
    for path in paths:
        path = Path(os.path.realpath(path))
        for parent, child in zip([*reversed(path.parents)], [*reversed(path.parents)][1:] + [path]):
            try:
                mode = os.stat(parent).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                entries = blocked.setdefault(str(parent), [])
                if str(child) not in entries:
                    entries.append(str(child))
                break
    return blocked


def _needed_paths(pythonpath: str) -> list:
    return [sys.executable, sys.prefix, sys.base_prefix, *sys.path[1:], *pythonpath.split(os.pathsep)]


#: what the kernel's user must manage: start this Python, import ipykernel, read the course package
PROBE = ("import importlib.util, ipykernel_launcher; spec = importlib.util.find_spec('course_utils'); "
         "open(spec.origin).read()")
_MODE: dict = {}
_MODE_LOCK = threading.Lock()


def _probe(user: KernelUser, pythonpath: str, private: Path, mounts: list) -> str:
    """``""`` when the kernel's user, with ``mounts``, can start this Python and import the course; else why not."""
    stage = private / "probe-stage"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    config = private / "probe.json"
    config.write_text(json.dumps({
        "uid": user.uid, "gid": user.gid, "cwd": "/", "stage": str(stage), "mounts": mounts,
        "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": pythonpath,
                "HOME": "/nonexistent"},
        "argv": [sys.executable, "-c", PROBE]}))
    probe = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), str(config), "--probe"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return "" if probe.returncode == 0 else (probe.stderr.strip()[-300:] or f"exit code {probe.returncode}")


def kernel_mode(user: KernelUser, pythonpath: str, private: Path, hide: list) -> dict:
    """Once per grading process: the mounts every kernel needs, and whether ``hide`` (see ``runtime.hiding``) works.

    ``{"covers": [...], "hides": bool}``. ``covers`` bridge folders the kernel's user may not enter (a pyenv
    under a 0700 ``/root``) in a private mount namespace (see :mod:`._launch`); ``hides`` says whether the
    grader's own package and checkout can be hidden from the kernel there (it needs ``CAP_SYS_ADMIN``; when
    it does not work, grading goes on with a warning and only the kernel's imports see the learner runtime).
    Raises :class:`IsolationError` when the kernel's user cannot run the course at all.
    """
    with _MODE_LOCK:
        if "mode" in _MODE:
            return _MODE["mode"]
        blocked = blocked_folders(p for p in _needed_paths(pythonpath) if p and os.path.exists(p))
        bridges = [{"cover": folder, "keep": [[entry, os.path.basename(entry)] for entry in entries]}
                   for folder, entries in sorted(blocked.items())]
        tries = [(covers, hides) for hides in ([True, False] if hide else [False])
                 for covers in ([[]] + ([bridges] if bridges else []))]
        errors = []
        for covers, hides in tries:
            error = _probe(user, pythonpath, private, covers + (hide if hides else []))
            if not error:
                if hide and not hides:
                    print(f"course grading: WARNING: the grading kernels cannot be given a private mount "
                          f"namespace ({errors[0]}), so each can read the course's own package and checkout by "
                          f"path, the references of the notebook it grades included (only its imports see the "
                          f"learner runtime). Grade as root with CAP_SYS_ADMIN for that protection.",
                          file=sys.stderr)
                _MODE["mode"] = {"covers": covers, "hides": hides}
                return _MODE["mode"]
            errors.append(error)
        raise IsolationError(
            f"grading as root runs each kernel as an unprivileged user (uid {user.uid}), but that user "
            f"cannot run {sys.executable} and import course_utils and ipykernel from {pythonpath} "
            f"({' / '.join(dict.fromkeys(errors))}). Make the course and its Python readable by others (chmod "
            f"o+rX on the folders {sorted(blocked) or 'on the way'}), or set COURSE_GRADING_KERNEL_USER=root to "
            f"run kernels as root without this protection.")


# -- matplotlib's font list, built once --------------------------------------------------------------
_FONTS: dict = {}
_FONTS_LOCK = threading.Lock()


def _existing_font_lists() -> list:
    """The grader's own matplotlib font lists, where matplotlib keeps its cache (none: not built yet)."""
    home = Path(os.path.expanduser("~"))
    places = [os.environ.get("MPLCONFIGDIR"), os.environ.get("XDG_CACHE_HOME") and
              Path(os.environ["XDG_CACHE_HOME"]) / "matplotlib", home / ".cache" / "matplotlib",
              home / ".config" / "matplotlib", home / ".matplotlib"]
    for place in places:
        if place and Path(place).is_dir():
            found = sorted(Path(place).glob("fontlist-v*.json"))
            if found:
                return found
    return []


def font_cache() -> Path | None:
    """A read-only folder holding matplotlib's font list (None: matplotlib is not installed).

    Copied from the grader's own matplotlib cache when it has one, else built once (a few seconds).
    """
    with _FONTS_LOCK:
        if "path" not in _FONTS:
            folder = Path(tempfile.mkdtemp(prefix="course-grading-fonts-"))
            atexit.register(shutil.rmtree, folder, True)
            existing = _existing_font_lists()
            for f in existing:
                shutil.copyfile(f, folder / f.name)
            if not existing:
                env = {"PATH": os.environ.get("PATH", ""), "MPLCONFIGDIR": str(folder), "HOME": str(folder)}
                subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
            files = list(folder.glob("fontlist-*.json"))
            _FONTS["path"] = folder if files else None
            os.chmod(folder, 0o755)
            for f in files:
                os.chmod(f, 0o444)
        return _FONTS["path"]


# -- one submission -----------------------------------------------------------------------------------
@dataclass
class Submission:
    """The folders, environment and user of one submission's grading process and kernel."""

    private: Path
    kernel_root: Path
    user: KernelUser | None = None
    mode: dict = field(default_factory=dict)          # the launch file's "mounts" (see kernel_mode())
    env: dict = field(default_factory=dict)          # the pytest process's environment
    kernel_env: dict = field(default_factory=dict)   # the kernel's

    @property
    def work(self) -> Path:
        return self.kernel_root / "work"

    @classmethod
    def create(cls, threads: int, pythonpath: str, memory_bytes: int, hide: list | None = None) -> "Submission":
        """``hide``: the mounts that cover the grader's own course package in the kernel (``runtime.hiding``),
        applied when grading as root gives each kernel its own user and mount namespace."""
        private = Path(tempfile.mkdtemp(prefix="grade-private-"))
        kernel_root = Path(tempfile.mkdtemp(prefix="grade-"))
        sub = cls(private, kernel_root)
        try:
            if as_root() and os.environ.get("COURSE_GRADING_KERNEL_USER") != "root":
                sub.user = KernelUser()
                mode = kernel_mode(sub.user, pythonpath, private, hide or [])
                sub.mode = {"mounts": mode["covers"] + ((hide or []) if mode["hides"] else [])}
            sub._layout(threads, pythonpath, memory_bytes)
        except BaseException:
            sub.remove()
            raise
        return sub

    def _layout(self, threads: int, pythonpath: str, memory_bytes: int) -> None:
        k = self.kernel_root
        home = k / "home"
        dirs = {"HOME": home, "XDG_CONFIG_HOME": home / ".config", "XDG_CACHE_HOME": home / ".cache",
                "XDG_DATA_HOME": home / ".local" / "share", "XDG_STATE_HOME": home / ".local" / "state",
                "MPLCONFIGDIR": home / ".config" / "matplotlib", "TORCH_HOME": home / ".cache" / "torch",
                "IPYTHONDIR": home / ".ipython", "JUPYTER_CONFIG_DIR": home / ".jupyter",
                "JUPYTER_DATA_DIR": home / ".local" / "share" / "jupyter",
                "TMPDIR": k / "tmp", "TEMP": k / "tmp", "TMP": k / "tmp",
                "XDG_RUNTIME_DIR": k / "run", "JUPYTER_RUNTIME_DIR": k / "run" / "jupyter"}
        for path in [k / "work", *dirs.values()]:
            path.mkdir(parents=True, exist_ok=True)
        fonts = font_cache()
        if fonts is not None:
            for f in fonts.glob("fontlist-*.json"):
                shutil.copyfile(f, dirs["MPLCONFIGDIR"] / f.name)
        t = str(max(1, threads))
        common = {"PYTHONPATH": pythonpath, "COURSE_QUIET": "1", "COURSE_GRADING": "1", "MPLBACKEND": "Agg",
                  "OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t,
                  "PYTHONDONTWRITEBYTECODE": "1", "JUPYTER_PLATFORM_DIRS": "1",
                  "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        passed = {k_: v for k_, v in os.environ.items() if k_ in PASS_THROUGH or k_.startswith("LC_")}
        if memory_bytes and "CUDA_VISIBLE_DEVICES" not in os.environ:
            # CUDA reserves far more address space than RLIMIT_AS allows: grade on the CPU (as the checks expect)
            passed["CUDA_VISIBLE_DEVICES"] = ""
        self.kernel_env = {**passed, **common, **{n: str(p) for n, p in dirs.items()},
                           "USER": "learner", "LOGNAME": "learner"}
        # the grading (pytest) process: its own folders in private/, never in the kernel's reach
        p = self.private
        own = {"HOME": p / "home", "JUPYTER_RUNTIME_DIR": p / "runtime", "JUPYTER_PATH": p / "share",
               "JUPYTER_CONFIG_DIR": p / "jupyter", "JUPYTER_DATA_DIR": p / "data", "IPYTHONDIR": p / "ipython",
               "TMPDIR": p / "tmp", "MPLCONFIGDIR": p / "mpl", "_stage": p / "stage"}
        for path in own.values():
            path.mkdir(parents=True, exist_ok=True)
        self.env = {**passed, **common, **{n: str(v) for n, v in own.items() if not n.startswith("_")},
                    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                    "COURSE_GRADING_MEMORY_BYTES": str(memory_bytes or 0)}
        self._kernel_spec()
        if self.user is not None:
            for root, subdirs, files in os.walk(k):
                for name in [*subdirs, *files]:
                    os.lchown(os.path.join(root, name), self.user.uid, self.user.gid)
            os.chown(k, self.user.uid, self.user.gid)
        os.chmod(k, 0o700)

    def _kernel_spec(self) -> None:
        """private/share/kernels/course-grading: the kernel, started through :mod:`._launch`."""
        launch = self.private / "launch.json"
        config = {"env": self.kernel_env, "cwd": str(self.work),
                  "connection_copy": str(self.kernel_root / "run" / "kernel.json"),
                  "uid": self.user.uid if self.user else None, "gid": self.user.gid if self.user else None,
                  "max_processes": MAX_PROCESSES, "stage": str(self.private / "stage"), **self.mode,
                  "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]}
        launch.write_text(json.dumps(config))
        spec = self.private / "share" / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-I", "-S", str(LAUNCHER), str(launch), "{connection_file}"],
            "display_name": "Python 3 (course grading)", "language": "python",
            "metadata": {"debugger": False}}))

    def stop_processes(self) -> None:
        if self.user is not None:
            self.user.kill_processes()

    def remove(self) -> None:
        if self.user is not None:
            self.user.release()
            self.user = None
        shutil.rmtree(self.kernel_root, ignore_errors=True)
        shutil.rmtree(self.private, ignore_errors=True)
