"""Reading an input file and writing an output file, safely, for every verb.

An input (a spec, an expectation file, a patch) is read only when it is a
regular file: a FIFO, a terminal, ``/dev/zero`` or a directory is refused by
``stat`` before anything opens it (so nothing blocks), the size is checked
with ``fstat`` on the opened file before a byte is read, and the read itself
stops one byte past the limit (so a file that grows while read, or lies about
its size, costs no more).  Every file read is remembered, so that no output of
the same run can replace it.

An output (``--json``, ``--html``, ``--markdown``, ``--emit``, ``generate``) is
written to a temporary file in its own directory, flushed to disk and renamed
over the old one: a full disk or an I/O error leaves the previous file whole
and names the file.  An output that exists and is not a regular file
(``/dev/stdout``, a FIFO, ``/dev/null``) is written into directly, since
renaming over it would replace the device rather than write to it; so is a file
one may write in a directory one may not (there is no other way to write it).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

# (st_dev, st_ino, st_size, st_mtime_ns) of every file read as an input in this run: the
# size and time keep a later file that reuses a deleted input's inode from being taken for it
_inputs: set[tuple[int, int, int, int]] = set()


MISSING = "no such file or directory"


class InputError(Exception):
    """An input file cannot be read; ``str()`` is one line naming the file."""

    def __init__(self, path: str | os.PathLike, problem: str, hint: str = "") -> None:
        self.path, self.problem, self.hint = str(path), problem, hint
        super().__init__(f"{self.path}: {problem}" + (f" ({hint})" if hint else ""))


class OutputError(Exception):
    """An output file cannot be written; ``str()`` is one line naming the file."""

    def __init__(self, path: str | os.PathLike, problem: str, *, usage: bool = False) -> None:
        self.path, self.problem = str(path), problem
        self.usage = usage  # the command line is at fault (exit 2), not the machine
        super().__init__(f"{self.path}: {problem}")


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def os_problem(e: OSError) -> str:
    """An OS error in words; a link that leads back to itself is named as such."""
    if e.errno == errno.ELOOP:
        return "a symlink loop (the link leads back to itself)"
    if e.errno == errno.ENOENT:
        return MISSING
    return e.strerror or str(e)


def stat_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be looked at (no such file, a symlink loop, ...), or None."""
    return _stat(path)[1]


def regular_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it is a regular file."""
    st, problem = _stat(path)
    if st is None or stat.S_ISREG(st.st_mode):
        return problem
    return f"{kind(st.st_mode)}, not a regular file"


def _stat(path: str | os.PathLike) -> tuple[os.stat_result | None, str | None]:
    try:
        return os.stat(path), None
    except OSError as e:
        return None, os_problem(e)
    except ValueError:  # a NUL in the name
        return None, "a file name with a NUL byte in it"


def read_input(path: str | os.PathLike, limit: int, *, hint: str = "") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, else InputError."""
    problem = regular_problem(path)
    if problem:
        raise InputError(path, f"cannot read the file: {problem}",
                         "give a regular file" if "regular" in problem else "")
    try:  # O_NONBLOCK: should the file have become a FIFO since the stat, open does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise InputError(path, f"cannot read the file: {os_problem(e)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"cannot read the file: {kind(st.st_mode)}, not a regular "
                                   "file", "give a regular file")
        too_big = InputError(path, f"file is larger than {_size(limit)}", hint)
        if st.st_size > limit:
            raise too_big
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise too_big
        _inputs.add(_identity(st))
        return b"".join(chunks)
    except OSError as e:
        raise InputError(path, f"cannot read the file: {os_problem(e)}") from None
    except MemoryError:
        raise InputError(path, "cannot read the file: not enough memory") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n:,} bytes"


def is_input(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file this process has read as an input."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return _identity(st) in _inputs


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def forget_inputs() -> None:
    """Start a new run: the files read so far are no longer its inputs."""
    _inputs.clear()


def write_output(path: str | os.PathLike, data: str | bytes, *, update: bool = False) -> None:
    """Replace ``path`` by ``data`` all at once (see the module's text); OutputError if not.

    ``update``: ``path`` was read to be rewritten (a page a command keeps a block of), so
    being an input is not a mistake."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if is_input(path) and not update:
        raise OutputError(path, "it is one of the run's inputs: give another file name (the "
                                "file is left as it was)", usage=True)
    target = Path(os.path.realpath(path))  # through a link, as a plain write would go
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(path, "is a directory; give a file name", usage=True)
        _write_into(path, target, raw)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except PermissionError:
        if st is None:
            raise OutputError(path, f"cannot write it: no permission to create a file in "
                                    f"{target.parent}") from None
        _write_into(path, target, raw)  # a file one may write in a directory one may not
        return
    except OSError as e:
        raise OutputError(path, f"cannot write it: {os_problem(e)}") from None
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) if st else 0o666 & ~_umask())
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        kept = " (the previous file is kept)" if st else ""
        raise OutputError(path, f"cannot write it: {os_problem(e)}{kept}") from None


def _write_into(path: str | os.PathLike, target: Path, raw: bytes) -> None:
    try:
        with open(target, "wb") as f:
            f.write(raw)
    except OSError as e:
        raise OutputError(path, f"cannot write it: {os_problem(e)}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
