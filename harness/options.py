"""Option values checked when the command line is parsed, before anything runs.

The same checks serve every ``buddy-harness`` verb (as argparse ``type=``
functions, through :class:`OneLineParser`) and the pytest options (through
:func:`problem`), so a bad value is always one line and never a traceback or
a false result: a timeout of 0 never reaches a backend, an output file that
cannot be written is refused before a run whose results it would lose.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from harness.backends.names import BackendRef
from harness.backends.registry import name_problem

MAX_SECONDS = 1_000_000.0  # about 11 days: past that a number is a typo, not a budget
MAX_COUNT = 1 << 63
OUTPUT_OPTIONS = ("json", "markdown", "html", "output")  # files a verb writes at the end of its run

T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``PROG: message (what to do)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {printable(message)} (see {self.prog} --help)\n")


def printable(text: str) -> str:
    """``text`` with control characters escaped: a value quoted in a message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a positive number of seconds up to {MAX_SECONDS:,.0f}")
    return value


def _whole(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not low <= value < MAX_COUNT:
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}")
    return value


def count0(text: str) -> int:
    """A whole number, 0 or more."""
    return _whole(text, 0, "a whole number, 0 or more, below 2^63")


def percent(text: str) -> float:
    """A percentage, 0 to 100."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage from 0 to 100")
    return value


def count(text: str) -> int:
    """A positive whole number."""
    return _whole(text, 1, "a positive whole number below 2^63")


def seed(text: str) -> int:
    """Any whole number in [0, 2^63)."""
    return _whole(text, 0, "a seed in 0 .. 2^63 - 1")


def backend(text: str) -> BackendRef:
    """A backend name of a known family, read into its parts once, where it enters; whether it
    can be opened is checked on opening."""
    problem = name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return BackendRef(text)


def kernel_version(text: str) -> str:
    from harness.trees.names import VERSION

    if not VERSION.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a kernel version like 7.2, 6.12 or "
                                         "6.1")
    return text


def output_file(text: str) -> str:
    """A file the run can create or overwrite: tried now, so results are never lost."""
    if not text:
        raise argparse.ArgumentTypeError("an empty file name")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory {path.parent} "
                                         "(create it first)")
    existed = path.exists()
    try:  # opening for update changes nothing; a file made only to try is removed again
        with open(path, "r+b" if existed else "xb"):
            pass
        if not existed:
            path.unlink()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text}: cannot write it ({e.strerror or e})") \
            from None
    return text


def output_dir(text: str) -> str:
    """A directory the run can create (with its parents) or write into."""
    if not text:
        raise argparse.ArgumentTypeError("an empty directory name")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {existing} is not a directory")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {existing} "
                                         f"({e.strerror or e})") from None
    return text


def report_page(text: str) -> str:
    """A report's main page, written with its companion files into a directory the run
    creates if need be (checked as :func:`output_dir`)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty file name")
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    output_dir(str(Path(text).parent))
    return text


def conflicts(ns: argparse.Namespace) -> str | None:
    """Options that cannot go together; None when there are none."""
    seen: dict[str, str] = {}
    for opt in OUTPUT_OPTIONS:
        value = getattr(ns, opt, None)
        if value is None:
            continue
        key = os.path.realpath(value)
        if key in seen:
            return f"--{seen[key]} and --{opt} both write {value}; give each its own file"
        seen[key] = opt
    return _input_named_as_output(ns)


def _input_named_as_output(ns: argparse.Namespace) -> str | None:
    """An output option naming one of the run's input files, which it would replace."""
    specs = getattr(ns, "specs", None)
    inputs = [specs] if isinstance(specs, str) else list(specs or [])
    if specs == []:  # the default
        inputs.append("specs")
    inputs += getattr(ns, "paths", None) or []
    for opt in OUTPUT_OPTIONS:
        value = getattr(ns, opt, None)
        if value is None or not os.path.isfile(value):
            continue
        out = os.path.realpath(value)
        for given in inputs:
            src = os.path.realpath(given)
            inside = os.path.isdir(src) and out.startswith(src.rstrip(os.sep) + os.sep) \
                and out.endswith((".yaml", ".yml"))
            if out == src or inside:
                where = f" (a spec file under {given})" if inside else ""
                return (f"--{opt} {value} is one of the run's inputs{where}: it would be "
                        "overwritten; give another file")
    return None


def problem(check: Callable[[str], T], option: str, text: str) -> str | None:
    """What is wrong with ``text`` as ``option`` (for pytest options), None if it is fine."""
    try:
        check(text)
    except argparse.ArgumentTypeError as e:
        return f"{option}: {e}"
    return None
