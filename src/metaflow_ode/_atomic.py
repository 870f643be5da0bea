"""Atomic file output: write a temporary file next to the target, then rename it into place.

A target therefore holds either its old content or the complete new one, never a partial
write, and no temporary file is left behind when writing fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Write the file `path` atomically.

    `write(tmp)` writes the whole content to `tmp`, a new file in the folder of `path`
    (which must exist); `tmp` is then flushed to disk, given the mode of the existing file
    at `path` (or `0o666` less the umask, as `open` would give a new file) and moved over
    `path` with `os.replace`.

    **Arguments:**

    - `path`: the file to write.
    - `write`: a function writing the content to the path it is given.

    **Returns:** `path`, as a `pathlib.Path`.

    **Raises:** whatever `write` raises, or `OSError`; `path` is then left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Created as `open` creates a file (0o666 less the umask) to learn the mode of a new file
    # without touching the process-wide umask.
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        mode = os.fstat(descriptor).st_mode & 0o7777
        os.close(descriptor)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            pass
        write(tmp)
        descriptor = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
