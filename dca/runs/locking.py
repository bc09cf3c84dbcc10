"""The run folder's lock: one process (and the processes it starts) works in a run folder at a time.

A ``dca run``, a single stage or the book driver holds ``run_dir/.dca.lock`` (pid, host, token)
while it works; a second process fails at once naming the holder, and a lock left by a process
that is gone is taken over.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LOCK", "LOCK_TOKEN_ENV", "RunLockedError", "holding_run_lock", "run_lock"]


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock; the message names its pid and host."""


#: The lock file a ``dca run`` (or a single stage) holds in its run folder while it works.
LOCK = ".dca.lock"


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _read_lock(lock: Path) -> dict[str, Any]:
    try:
        return json.loads(lock.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _stale(holder: dict[str, Any]) -> bool:
    """A lock left by a process of this host that is gone (or a lock without a pid and host)."""
    if not isinstance(holder.get("pid"), int) or not holder.get("host"):
        return True
    return holder["host"] == socket.gethostname() and not _pid_alive(holder["pid"])


#: The environment variable naming the lock token of the process that holds a run folder's lock; its
#: children (the notebook kernels of the book driver) inherit it and work under the same lock.
LOCK_TOKEN_ENV = "DCA_LOCK_TOKEN"


def _create_lock(lock: Path, me: dict[str, Any]) -> bool:
    """Create ``lock`` holding ``me`` in one step: the record is written to a private file first and
    then hard-linked to the lock's name, which fails when the name exists. No process ever sees the
    lock empty or half-written (where the file system has no hard links, the lock is created
    exclusively and then filled; a reader that finds it empty then reports it and does not take it
    over). True when this call created it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{lock.name}.", suffix=".tmp", dir=lock.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        try:
            os.link(tmp, lock)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create, then the record
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
        return True
    finally:
        os.unlink(tmp)


def _remove_stale(lock: Path, holder: dict[str, Any]) -> None:
    """Remove a stale lock, unless another process replaced it meanwhile: the lock is first renamed to a
    private name (one process wins), and put back when what was moved is not the stale record."""
    aside = lock.with_name(f".{lock.name}.stale.{os.getpid()}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return  # another process removed it first
    if _read_lock(aside) != holder:  # a live lock taken between our read and the rename: restore it
        with contextlib.suppress(FileExistsError):
            os.link(aside, lock)
    aside.unlink(missing_ok=True)


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir/.dca.lock`` (pid, host and a token) while working in ``run_dir``.

    A second process fails at once with :class:`RunLockedError` naming the holder. A lock whose
    process is gone (same host, pid not running) is stale and taken over. The lock is created with its
    content in one step (:func:`_create_lock`), so two processes started at the same instant never
    both hold it. While held, ``DCA_LOCK_TOKEN`` carries its token: the holder itself and the
    processes it starts (the book driver's notebooks) enter the lock again without waiting.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with run_lock(d):
    ...     with run_lock(d):  # the holder again (a stage inside ``dca run``): nested, not refused
    ...         (d / LOCK).exists()
    True
    >>> (d / LOCK).exists()
    False
    """
    lock = Path(run_dir) / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    token = os.environ.get(LOCK_TOKEN_ENV)
    holder = _read_lock(lock)
    if token and holder.get("token") == token:
        yield lock  # held by this process or the one that started it
        return
    token = token or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(8).hex()}"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
          "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    for _ in range(3):
        if _create_lock(lock, me):
            break
        holder = _read_lock(lock)
        if not holder and lock.exists():
            raise RunLockedError(f"{lock} exists but cannot be read; remove it if no dca process works in {run_dir}")
        if holder and not _stale(holder):
            raise RunLockedError(
                f"{run_dir} is in use by process {holder['pid']} on {holder['host']} (since "
                f"{holder.get('started', '?')}); wait for it, or remove {lock} if that process is gone")
        if holder:
            _remove_stale(lock, holder)  # its process is gone: take it over
    else:
        raise RunLockedError(f"could not take {lock}: another process took it at the same moment")
    previous = os.environ.get(LOCK_TOKEN_ENV)
    os.environ[LOCK_TOKEN_ENV] = token
    try:
        yield lock
    finally:
        if previous is None:
            os.environ.pop(LOCK_TOKEN_ENV, None)
        else:
            os.environ[LOCK_TOKEN_ENV] = previous
        if _read_lock(lock).get("token") == token:
            lock.unlink(missing_ok=True)


def holding_run_lock(run: Any) -> Any:
    """Decorate a stage's ``run(config, ...)`` to hold ``config.run_dir``'s lock (main process only),
    so a notebook that calls the stage takes the same lock as ``python -m dca``."""
    import functools

    @functools.wraps(run)
    def locked(config: Any, *args: Any, **kwargs: Any) -> Any:
        from dca.runs.distributed import is_main_process

        if not is_main_process():
            return run(config, *args, **kwargs)
        with run_lock(config.run_dir):
            return run(config, *args, **kwargs)

    return locked
