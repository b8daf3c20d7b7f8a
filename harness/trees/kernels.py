"""Kernel trees for the native backend: the cache, and fetching Debian's linux-source-X.Y.

A fetched tree holds only what the user-space build and a reader need, under
``$XDG_CACHE_HOME/buddy-harness/kernels/<version>/``, with the exact package
version recorded beside it.  The archive is found through this machine's own
apt configuration; apt runs on a private sources list and private state, so
the system's apt setup is never touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness import integrity, leftovers
from harness.trees.names import VERSION, cache_root
from harness.trees.tree import META, read_meta

if TYPE_CHECKING:
    import tarfile

SUITES = ("sid", "trixie", "bookworm")
# Path prefixes kept from the source tarball (relative to its top directory).
KEEP = (
    "Makefile",  # with rust/Makefile: the Rust lint flags the lint items read
    ".rustfmt.toml",
    ".clippy.toml",
    "drivers/gpu/buddy.c",
    "drivers/gpu/tests/",
    "drivers/gpu/drm/drm_buddy.c",
    "drivers/gpu/drm/tests/drm_buddy_test.c",
    "drivers/gpu/drm/lib/drm_random.c",  # 6.1's KUnit file includes "../lib/drm_random.h"
    "drivers/gpu/drm/lib/drm_random.h",
    "drivers/gpu/drm/selftests/test-drm_buddy.c",
    "include/linux/gpu_buddy.h",
    "include/drm/drm_buddy.h",
    "rust/",  # the binding and every crate its user-space build needs
    "scripts/kernel-doc",  # the kernel-doc parser (Perl up to 6.x, Python from 7.x)
    "scripts/kernel-doc.py",
    "scripts/kernel-doc.pl",
    "scripts/lib/kdoc/",
    "tools/lib/python/",
    "Documentation/doc-guide/kernel-doc.rst",
    "tools/include/",
    "tools/lib/rbtree.c",
    "tools/testing/kunit/kunit_parser.py",  # reads the KTAP `buddy-harness kunit` prints
    "tools/testing/kunit/kunit_printer.py",
)
# Bumped whenever KEEP grows: a tree cached with fewer paths is fetched again.
LAYOUT = 4



# Set (tox's py env): nothing may download a tree, so a test that needs one and does not say
# so fails there instead of fetching behind the envs that run such tests.
NO_FETCH = "BUDDY_HARNESS_NO_FETCH"


class FetchError(Exception):
    """Fetching failed; the message says why and what to try."""


def kernels_dir() -> Path:
    return cache_root() / "kernels"


def locate(version: str) -> Path | None:
    """The cached tree of ``version`` (e.g. ``7.2``), or None (also when it is damaged:
    :func:`damage` says how, and fetching it again repairs it)."""
    d = kernels_dir() / version
    for _ in range(3):  # a re-fetch may swap the tree while it is checked: check the new one
        real = Path(os.path.realpath(d))
        meta = read_meta(real)
        sound = meta is not None and meta.get("layout", 1) >= LAYOUT and damage(real) is None
        if os.path.realpath(d) == str(real):
            return d if sound else None
    return None


def damage(tree: Path) -> str | None:
    """What is wrong with a cached tree, checked against the record sealed when it was made
    (its record file included); None for a sound tree or one cached before seals."""
    why = integrity.damaged(tree)
    return f"{tree}: the cached tree is damaged ({why})" if why else None


@dataclass(frozen=True)
class Cached:
    version: str
    package: str
    path: Path


def cached() -> list[Cached]:
    """The fetched versions (patched trees are not among them)."""
    out = []
    root = kernels_dir()
    if root.is_dir():
        for d in sorted(root.iterdir(), key=lambda p: _sort_key(p.name)):
            meta = read_meta(d)
            if meta is None or d.name.startswith(".") or meta.get("base"):
                continue  # staging, or a patched tree (harness.trees.patched lists those)
            out.append(Cached(d.name, meta.get("package", "?"), d))
    return out


def _sort_key(v: str) -> tuple:
    return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))


# -- fetching -----------------------------------------------------------------

def archive_source() -> tuple[str, str]:
    """(URI, signed-by keyring or "") of the Debian archive this machine's apt uses."""
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields = _deb822(stanza)
            suites = fields.get("suites", "").split()
            if "deb" not in fields.get("types", "deb").split() or not fields.get("uris"):
                continue
            if suites and all(s.endswith(("-security", "-backports")) for s in suites):
                continue
            return fields["uris"].split()[0], fields.get("signed-by", "").split("\n")[0]
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d")
                                                     .glob("*.list"))]:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and not m[3].endswith(("-security", "-backports")):
                opts = m[1] or ""
                key = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                return m[2], key[1] if key else ""
    raise FetchError("no Debian archive found in /etc/apt/sources.list.d/*.sources or "
                     "/etc/apt/sources.list; configure apt, or pass a kernel tree with "
                     "--backend native@PATH")


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += "\n" + line.strip()
            continue
        k, _, v = line.partition(":")
        key = k.strip().lower()
        fields[key] = v.strip()
    return fields


def fetch(version: str, log: Callable[[str], None] = print, *, again: bool = True) -> Path:
    """Download linux-source-VERSION, keep the needed paths in the cache; returns the tree.

    One fetch of a version at a time (a lock in the cache): a fetch that waited for
    another of the same version uses its tree rather than downloading it again; so does
    any fetch when ``again`` is false and the tree is there.  The tree is extracted
    beside the others and published by renaming a link, so a reader finds the old tree
    or the new one, never neither.
    """
    if not VERSION.match(version):
        raise FetchError(f"'{version}': give a kernel version like 7.2, 6.12 or 6.1")
    if os.environ.get(NO_FETCH):
        raise FetchError(f"fetching is turned off here ({NO_FETCH} is set): run "
                         f"`buddy-harness kernel fetch {version}` where it is not")
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(f"{tool} not found: fetching needs a Debian system; otherwise "
                             "pass a kernel tree with --backend native@PATH")
    root = kernels_dir()
    dest = root / version
    before = _stamp(dest)
    with _writable_lock(root, version) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if locate(version) and (not again or _stamp(dest) != before):
            log(f"linux-source-{version} is cached (fetched by another run meanwhile): {dest}")
            return dest
        try:
            return _fetch_locked(version, dest, log)
        except OSError as e:
            raise FetchError(_write_error(e, root)) from None


def _stamp(dest: Path) -> tuple | None:
    """What a tree's record looks like now, to tell whether another run fetched it."""
    try:
        st = (dest / META).stat()
    except OSError:
        return None
    return (os.path.realpath(dest), st.st_ino, st.st_mtime_ns)


@contextlib.contextmanager
def _writable_lock(root: Path, version: str) -> Iterator:
    """The version's lock file, opened only once the cache is known to be writable (before
    anything is downloaded)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=root).close()
        lock = open(root / f".lock-{version}", "w")
    except OSError as e:
        raise FetchError(f"cannot write the kernel cache {root}: {e.strerror or e} (make it "
                         "writable, or set XDG_CACHE_HOME to a directory that is)") from None
    with lock:
        yield lock


def _write_error(e: OSError, root: Path) -> str:
    where = f"{e.filename}: " if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}disk full: no space left to fetch into {root} (free some space, "
                "or set XDG_CACHE_HOME to a disk that has it)")
    return f"{where}cannot write the fetched tree ({e.strerror or e})"


def _fetch_locked(version: str, dest: Path, log: Callable[[str], None]) -> Path:
    uri, keyring = archive_source()
    package = f"linux-source-{version}"
    root = dest.parent
    # The download goes into the cache, not /tmp: a killed fetch's 150+ MB are swept there.
    t = leftovers.scratch(root, f"download-{version}")
    try:
        opts = _apt_private(t, uri, keyring)
        t0 = time.monotonic()
        log(f"fetching {package}: updating a private package index ({', '.join(SUITES)})")
        _run(["apt-get", *opts, "-q", "update"], t, "updating the package index")
        _run(["apt-get", *opts, "-q", "download", package], t,
             f"downloading {package} (is there such a package in {', '.join(SUITES)}?)")
        debs = sorted(t.glob(f"{package}_*.deb"))
        if not debs:
            raise FetchError(f"apt-get downloaded no {package} package")
        deb = debs[-1]
        pkg_version = deb.name.split("_")[1].replace("%3a", ":")
        log(f"downloaded {deb.name} ({deb.stat().st_size >> 20} MiB) in "
            f"{time.monotonic() - t0:.1f} s; extracting")
        staging = leftovers.scratch(root, f"tree-{version}")
        try:
            n = _extract(deb, package, staging)
            if n == 0:
                raise FetchError(f"{deb.name} holds no kernel source tarball")
            meta = {"version": version, "package": pkg_version, "deb": deb.name, "layout": LAYOUT,
                    "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
            integrity.seal(staging)
            _publish(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(t, ignore_errors=True)
    log(f"{package} {pkg_version} -> {dest} ({time.monotonic() - t0:.1f} s)")
    return dest


def _publish(staging: Path, dest: Path) -> None:
    """Point ``dest`` (a link) at ``staging`` in one rename, then remove the tree it replaced."""
    old: Path | None = None
    if dest.is_symlink():
        old = dest.parent / os.readlink(dest)
    elif dest.exists():  # a tree cached before trees were links: moved aside, once
        old = leftovers.scratch(dest.parent, "replaced")
        dest.rename(old / dest.name)
    link = dest.parent / f"{leftovers.prefix('link')}{dest.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(staging.name)
    os.replace(link, dest)
    if old is not None and old != staging:
        shutil.rmtree(old, ignore_errors=True)


def _ensure(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _apt_private(t: Path, uri: str, keyring: str) -> list[str]:
    for d in ("lists/partial", "cache/archives/partial", "etc/preferences.d"):
        (t / d).mkdir(parents=True)
    opt = f"[signed-by={keyring}] " if keyring and Path(keyring).is_file() else ""
    (t / "sources.list").write_text("".join(f"deb {opt}{uri} {s} main\n" for s in SUITES))
    opts = [
        f"-o=Dir::Etc::SourceList={t / 'sources.list'}",
        "-o=Dir::Etc::SourceParts=/dev/null",
        f"-o=Dir::Etc::PreferencesParts={t / 'etc/preferences.d'}",
        f"-o=Dir::State::Lists={t / 'lists'}",
        f"-o=Dir::Cache={t / 'cache'}",
        "-o=APT::Get::List-Cleanup=false",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # The private directories belong to root; apt's unprivileged download user
        # could not write there.
        opts.append("-o=APT::Sandbox::User=root")
    return opts


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what}: timed out") from None
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr + p.stdout).splitlines()
                 if ln.startswith(("E:", "W:", "Err"))] or p.stderr.strip().splitlines()[-3:]
        full = " (disk full)" if "No space left on device" in p.stderr + p.stdout else ""
        raise FetchError(f"{what} failed{full}: " + " | ".join(lines[:3]))


def _extract(deb: Path, package: str, dest: Path) -> int:
    """Stream the source tarball out of the .deb and keep the KEEP paths; returns files kept."""
    import tarfile  # only a fetch reads archives: not imported at start-up

    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    kept = 0
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
            for member in outer:
                name = member.name.lstrip("./")
                if not (name.startswith(f"usr/src/{package}") and ".tar" in name):
                    continue
                inner_f = outer.extractfile(member)
                assert inner_f is not None
                with tarfile.open(fileobj=inner_f, mode="r|*") as inner:
                    kept += _keep_members(inner, dest)
                break
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT) or e.filename:  # writing, not reading
            raise
        raise FetchError(f"{deb.name}: cannot read the archive ({e})") from None
    except (tarfile.TarError, EOFError) as e:
        raise FetchError(f"{deb.name}: cannot read the archive ({e})") from None
    finally:
        proc.stdout.close()
        proc.wait()
    return kept


def _keep_members(tar: tarfile.TarFile, dest: Path) -> int:
    import tarfile

    kept = 0
    for m in tar:
        top, _, rel = m.name.partition("/")
        if not rel or not any(rel == k or (k.endswith("/") and rel.startswith(k))
                              for k in KEEP):
            continue
        if not (m.isfile() or m.isdir() or m.issym()):
            continue
        m.name = rel
        try:
            tar.extract(m, dest, filter="data")
        except tarfile.FilterError:
            continue  # a link pointing outside the kept paths (e.g. into include/)
        kept += m.isfile()
    return kept
