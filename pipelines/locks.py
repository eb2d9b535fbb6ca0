"""Advisory file locks between processes (``fcntl.flock``): one writer at a time for a lake
partition (``pipelines.lake``) or a registered model (``evaluation.registry``).

    with file_lock(folder / ".lock-week=3", "writing lake/raw/tracking/season=2025/week=3"):
        ...   # no other process holding the same lock file is in here

Why ``flock`` on a lock file: the kernel releases the lock when its holder dies, even by SIGKILL,
so a crashed run never leaves a stale lock behind (no pid files to judge, no timeouts to guess).
A second process blocks until the first is done, after saying once on stderr what it waits for
and who holds it (``another run holds the lock on …``): two overlapping backfills of the same week
both finish, one after the other, instead of one of them failing.

The lock file is hidden (readers of the lake skip names starting with ``.``) and is deleted by its
holder before it lets go, so nothing stays behind after a write.  Deleting a lock file is safe
because a process that locked it checks that the path still names the file it locked; when a
holder has deleted it in the meantime, it opens the new one and locks again.

``flock`` is local to one machine (and to file systems that support it: local disks, NFS since
Linux 2.6.12): two machines writing the same lake need a lock service instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing, deleted on release) for the block;
    ``what`` names the work in the waiting message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    print(f"{what}: another run holds the lock on {path} (pid {holder}); waiting for it",
                          file=sys.stderr, flush=True)
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder deleted it before letting go: lock the file now at ``path``
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still holding it: a waiter then sees another file at the path
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
