"""Kernel trees for the native backend: the cache, and fetching Debian's linux-source-X.Y.

A fetched tree holds only what the user-space build and a reader need, under
``$XDG_CACHE_HOME/buddy-harness/kernels/<version>/``, with the exact package
version recorded beside it.  The archive is found through this machine's own
apt configuration; apt runs on a private sources list and private state, so
the system's apt setup is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.backends.native.tree import META

SUITES = ("sid", "trixie", "bookworm")
# Path prefixes kept from the source tarball (relative to its top directory).
KEEP = (
    "Makefile",
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
LAYOUT = 3
_VERSION = re.compile(r"^\d+\.\d+$")


class FetchError(Exception):
    """Fetching failed; the message says why and what to try."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "buddy-harness"


def kernels_dir() -> Path:
    return cache_root() / "kernels"


def locate(version: str) -> Path | None:
    """The cached tree of ``version`` (e.g. ``7.2``), or None."""
    d = kernels_dir() / version
    try:
        meta = json.loads((d / META).read_text())
    except (OSError, ValueError):
        return None
    return d if meta.get("layout", 1) >= LAYOUT else None


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
            try:
                meta = json.loads((d / META).read_text())
            except (OSError, ValueError):
                continue
            if d.name.startswith(".") or meta.get("base"):
                continue  # staging, or a patched tree (harness.patching.trees lists those)
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


def fetch(version: str, log: Callable[[str], None] = print) -> Path:
    """Download linux-source-VERSION, keep the needed paths in the cache; returns the tree."""
    if not _VERSION.match(version):
        raise FetchError(f"'{version}': give a kernel version like 7.2, 6.12 or 6.1")
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(f"{tool} not found: fetching needs a Debian system; otherwise "
                             "pass a kernel tree with --backend native@PATH")
    uri, keyring = archive_source()
    package = f"linux-source-{version}"
    dest = kernels_dir() / version
    with tempfile.TemporaryDirectory(prefix="buddy-harness-fetch-") as tmp:
        t = Path(tmp)
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
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=_ensure(kernels_dir())))
        try:
            n = _extract(deb, package, staging)
            if n == 0:
                raise FetchError(f"{deb.name} holds no kernel source tarball")
            meta = {"version": version, "package": pkg_version, "deb": deb.name, "layout": LAYOUT,
                    "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    log(f"{package} {pkg_version} -> {dest} ({time.monotonic() - t0:.1f} s)")
    return dest


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
        raise FetchError(f"{what} failed: " + " | ".join(lines[:3]))


def _extract(deb: Path, package: str, dest: Path) -> int:
    """Stream the source tarball out of the .deb and keep the KEEP paths; returns files kept."""
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
    except (tarfile.TarError, EOFError, OSError) as e:
        raise FetchError(f"{deb.name}: cannot read the archive ({e})") from None
    finally:
        proc.stdout.close()
        proc.wait()
    return kept


def _keep_members(tar: tarfile.TarFile, dest: Path) -> int:
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
