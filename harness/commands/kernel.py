"""``buddy-harness kernel fetch VERSION | list``: kernel sources for the native backend."""

from __future__ import annotations

import argparse

from harness.cli import UsageError


def run(ns: argparse.Namespace) -> int:
    from harness.backends.native import commands

    if ns.kernel_verb == "fetch":
        return commands.kernel_fetch(ns.version)
    if ns.kernel_verb == "list":
        return commands.kernel_list()
    raise UsageError("say `kernel fetch VERSION` or `kernel list`")
