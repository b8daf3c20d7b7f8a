"""Patched trees in the kernel cache: ``kernels/NAME/`` beside the fetched versions.

A patched tree is a full copy of a fetched tree with a patch applied.  Its
``buddy-harness.json`` keeps the base's fields (so its version, for
capabilities and build keys, is the base's release, e.g. 7.2.13) and adds
``name``, ``base``, the patch file's name, form and sha256, and which files
changed.  It is built in a hidden staging directory and renamed into place
only when every hunk applied, so a patch that fails caches nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import fileio, integrity
from harness.backends.base import BackendUnavailable
from harness.backends.names import BackendRef
from harness.patching import apply as _apply
from harness.patching import parse
from harness.trees import kernels
from harness.trees.names import VERSION
from harness.trees.tree import META, read_meta

MAX_PATCH_BYTES = 64 << 20  # a whole review thread is a few MB
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True)
class Patched:
    name: str
    base: str
    package: str
    patch: str  # the patch file's name
    sha256: str
    path: Path
    changed: dict[str, list[str]]


def check_name(name: str) -> None:
    """PatchError unless ``name`` can name a patched tree."""
    if VERSION.match(name) or re.match(r"^\d", name):
        raise parse.PatchError(f"'{name}' looks like a kernel version, which names a fetched tree: "
                               "give the patched tree a name that starts with a letter "
                               "(e.g. v12.1)")
    if not NAME.match(name):
        raise parse.PatchError(f"'{name}' cannot name a tree: use up to 64 letters, digits, '.', "
                               "'_', '+' or '-', starting with a letter (e.g. v12.1)")


def locate(name: str) -> Path | None:
    """The cached patched tree ``name``, or None; BackendUnavailable if it is outdated."""
    if not NAME.match(name) or VERSION.match(name):
        return None
    d = kernels.kernels_dir() / name
    meta = _meta(d)
    if not meta.get("base"):
        return None
    if meta.get("layout", 1) < kernels.LAYOUT:
        raise BackendUnavailable(
            f"tree {name} was copied from a {meta['base']} cached with fewer paths than the "
            f"harness now keeps: run `buddy-harness kernel fetch {meta['base']}`, then "
            f"`buddy-harness kernel patch {name} --onto {meta['base']} FILE` again")
    why = kernels.damage(d)
    if why:
        raise BackendUnavailable(f"{why}: run `buddy-harness kernel patch {name} --onto "
                                 f"{meta['base']} FILE` again")
    return d


def cached() -> list[Patched]:
    out = []
    root = kernels.kernels_dir()
    if root.is_dir():
        for d in sorted(root.iterdir()):
            meta = _meta(d)
            if d.name.startswith(".") or not meta.get("base"):
                continue
            p = meta.get("patch", {})
            out.append(Patched(d.name, meta["base"], meta.get("package", "?"),
                               p.get("file", "?"), p.get("sha256", ""), d,
                               meta.get("changed", {})))
    return out


def base_of(backend: str) -> str | None:
    """``FAMILY@BASE`` for a backend named after a patched tree (``native@v12.1``), else None."""
    ref = BackendRef(backend)
    if ref.what is None or not NAME.match(ref.what) or VERSION.match(ref.what):
        return None
    base = _meta(kernels.kernels_dir() / ref.what).get("base")
    return f"{ref.family}@{base}" if base else None


def _meta(d: Path) -> dict:
    return read_meta(d) or {}


def make(name: str, onto: str, patch_file: Path,
         log: Callable[[str], None] = print) -> tuple[Patched, _apply.Result, parse.Patch]:
    """Apply ``patch_file`` onto the fetched tree ``onto`` and cache it as ``name``."""
    check_name(name)
    if not VERSION.match(onto):
        raise parse.PatchError(f"--onto '{onto}': give a fetched kernel version like 7.2")
    base = kernels.locate(onto)
    if base is None:
        raise parse.PatchError(f"kernel {onto} is not cached: run `buddy-harness kernel fetch "
                               f"{onto}` first")
    try:
        data = fileio.read_input(patch_file, MAX_PATCH_BYTES, hint="cut it down to the patch")
    except fileio.InputError as e:
        raise parse.PatchError(str(e)) from None
    text = data.decode("utf-8", "replace")
    patch = parse.read(text, str(patch_file))
    if not patch.files:
        raise parse.PatchError(f"{patch_file}: the patch changes no file")
    base_meta = _meta(base)
    root = kernels.kernels_dir()
    try:
        return _make(name, onto, patch_file, data, patch, base, base_meta, root, log)
    except OSError as e:  # a full disk, a file where the patch needs a directory, ...
        raise parse.PatchError(_os_error(e, root, name)) from None


def _os_error(e: OSError, root: Path, name: str) -> str:
    """One line for an OS error while building tree ``name``: the file as a path in the tree,
    never the hidden staging directory it was built in."""
    where = ""
    if e.filename:
        parts = Path(e.filename).parts
        inside = Path(e.filename).is_relative_to(root) and len(parts) > len(root.parts) + 1
        where = f"{Path(*parts[len(root.parts) + 1:]) if inside else e.filename}: "
    return f"cannot build tree {name}: {where}{e.strerror or e}"


def _make(name: str, onto: str, patch_file: Path, data: bytes, patch: parse.Patch, base: Path,
          base_meta: dict, root: Path,
          log: Callable[[str], None]) -> tuple[Patched, _apply.Result, parse.Patch]:
    dest = root / name
    with open(root / f".lock-{name}", "w") as lock:
        # Two `kernel patch` runs of one NAME: the second waits, then replaces.
        fcntl.flock(lock, fcntl.LOCK_EX)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            try:
                shutil.copytree(base, staging, symlinks=True, dirs_exist_ok=True)
            except shutil.Error as e:  # each file's error; the first says what went wrong
                src, _, why = e.args[0][0]
                why = re.sub(r"^\[Errno \d+\] |: '[^']*'$", "", str(why))  # not the staging dir
                raise parse.PatchError(f"cannot copy {src} into tree {name}: {why}") from None
            (staging / META).unlink(missing_ok=True)
            res = _apply.apply(patch, staging, str(patch_file), onto)
            meta = {**{k: base_meta[k] for k in ("package", "deb", "layout") if k in base_meta},
                    "version": onto, "name": name, "base": onto,
                    "patch": {"file": patch_file.name, "form": patch.form,
                              "sha256": hashlib.sha256(data).hexdigest()},
                    "changed": res.changed(), "already_present": res.already,
                    "patched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
            integrity.seal(staging)  # the base's record no longer holds
            if dest.exists():
                old = _meta(dest)
                if not old.get("base"):
                    raise parse.PatchError(f"{dest} exists and is not a patched tree: choose "
                                           "another name")
                log(f"replacing tree {name} (was {old.get('patch', {}).get('file', '?')} onto "
                    f"{old['base']})")
                aside = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=root))
                dest.rename(aside / name)
                staging.rename(dest)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                staging.rename(dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return (Patched(name, onto, meta.get("package", "?"), patch_file.name,
                    meta["patch"]["sha256"], dest, meta["changed"]), res, patch)
