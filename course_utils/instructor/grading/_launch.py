"""Start one submission's kernel: ``python -I -S _launch.py LAUNCH_JSON CONNECTION_FILE`` (the kernel spec's argv).

Run by jupyter_client from the grading (pytest) process. Standard library only. In order:

1. read LAUNCH_JSON (in the grader's private folder): the kernel's environment, working folder, user;
2. copy the connection file into the kernel's own folder (the original stays in the grader's private
   runtime folder) and, as root, give the copy to the kernel's user;
3. point stdout/stderr at /dev/null (the grader's output file is not the kernel's) and close every other
   inherited file descriptor;
4. as root: give the kernel a private mount namespace (the launch file's ``mounts``) in which the grader's own
   course package is the learner runtime the kernel may see, its source checkout is an empty tmpfs holding only
   that package and the Python (see ``runtime.hiding``), and a folder the kernel's user may not enter on the
   way to the Python (e.g. a pyenv under ``/root``, mode 0700) is an empty tmpfs holding only the needed
   entries (bind mounts); then drop to the kernel's uid/gid with no supplementary groups, and cap its
   processes;
5. ask to be killed when the grading process dies (``PR_SET_PDEATHSIG``, set after the uid change, which
   clears it), so a kernel never outlives a grader that was killed;
6. replace this process by ``python -m ipykernel_launcher -f COPY`` with exactly that environment
   (the pid stays the same, so the grader's kernel manager still watches the kernel).
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH = 0x20000, 4096, 16384, 1 << 18, 2
PR_SET_PDEATHSIG, SIGKILL = 1, 9


def _libc_call(name, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}{args}: {os.strerror(error)}")


def _mount(source, target, fstype=None, flags=0, data=None):
    enc = lambda x: None if x is None else str(x).encode()  # noqa: E731
    _libc_call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _stage(source: str, spot: str) -> str:
    """Bind ``source`` to ``spot`` (a new empty file or folder) so it stays reachable under a cover."""
    if os.path.isdir(source):
        os.mkdir(spot)
    else:
        open(spot, "w").close()
    _mount(source, spot, None, MS_BIND | MS_REC)
    return spot


def mount_all(mounts: list, stage: str) -> None:
    """In a new mount namespace, apply ``mounts`` in order (see ``runtime.hiding``).

    ``{"cover": FOLDER, "keep": [[SOURCE, NAME], ...]}``: a tmpfs over FOLDER holding only each SOURCE, bound
    at FOLDER/NAME; ``{"bind": SOURCE, "onto": TARGET}``: SOURCE bound over TARGET.
    """
    _libc_call("unshare", CLONE_NEWNS)
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    for number, op in enumerate(mounts):
        if "bind" in op:
            _mount(op["bind"], op["onto"], None, MS_BIND | MS_REC)
            continue
        staged = [(name, _stage(source, os.path.join(stage, f"{number}-{i}")))
                  for i, (source, name) in enumerate(op["keep"])]
        _mount("tmpfs", op["cover"], "tmpfs", 0, "mode=0755,size=1m")
        for name, spot in staged:
            target = os.path.join(op["cover"], name)
            if os.path.isdir(spot):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(spot, target, None, MS_BIND | MS_REC)
            _libc_call("umount2", spot.encode(), MNT_DETACH)


def main(launch_path: str, connection_file: str) -> None:
    """Start the kernel (``connection_file`` ``--probe``: run the configured argv as is, output kept)."""
    parent = os.getppid()
    with open(launch_path, encoding="utf-8") as f:
        config = json.load(f)
    probe = connection_file == "--probe"
    uid, gid = config.get("uid"), config.get("gid")
    copy = config.get("connection_copy")
    if not probe:
        with open(connection_file, "rb") as f:
            connection = f.read()
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(connection)
        if uid is not None:
            os.chown(copy, uid, gid)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.closerange(3, 65536)
    if config.get("mounts"):
        mount_all(config["mounts"], config["stage"])
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise SystemExit("could not drop to the kernel's user")
        limit = int(config.get("max_processes") or 0)
        if limit:
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    _libc_call("prctl", PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit("the grading process is gone")
    os.chdir(config["cwd"])
    argv = [copy if a == "{connection_file}" else a for a in config["argv"]]
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
