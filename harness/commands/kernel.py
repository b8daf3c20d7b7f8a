"""``buddy-harness kernel fetch VERSION... | list | patch``: kernel trees for the backends."""

from __future__ import annotations

import argparse

from harness import options
from harness.commands.common import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    ksub = p.add_subparsers(dest="kernel_verb", metavar="fetch|list|patch")
    kf = ksub.add_parser("fetch", help="fetch Debian's linux-source-VERSION into the cache "
                         "(several versions at once, side by side)")
    kf.add_argument("version", nargs="+", type=options.kernel_version,
                    help="e.g. 7.2, 6.12, 6.1")
    ksub.add_parser("list", help="list cached kernel trees")
    kp = ksub.add_parser("patch", help="apply a patch onto a fetched tree, cached as tree NAME")
    kp.add_argument("name", metavar="NAME", help="the new tree's name, e.g. v12.1 (then "
                    "--backend native@NAME)")
    kp.add_argument("--onto", required=True, metavar="VERSION", type=options.kernel_version,
                    help="a fetched version, e.g. 7.2")
    kp.add_argument("file", metavar="FILE", help="a git patch, an mbox, or a review reply "
                    "quoting the patch with '> '")


def run(ns: argparse.Namespace) -> int:
    from harness.backends.native import commands

    if ns.kernel_verb == "fetch":
        return commands.kernel_fetch(list(dict.fromkeys(ns.version)))
    if ns.kernel_verb == "list":
        return commands.kernel_list()
    if ns.kernel_verb == "patch":
        from harness.patching.command import kernel_patch

        return kernel_patch(ns.name, ns.onto, ns.file)
    raise UsageError("say `kernel fetch VERSION...`, `kernel list` or "
                     "`kernel patch NAME --onto VERSION FILE`")
