"""``buddy-harness kernel fetch VERSION | list | patch``: kernel trees for the backends."""

from __future__ import annotations

import argparse

from harness.commands.common import UsageError


def run(ns: argparse.Namespace) -> int:
    from harness.backends.native import commands

    if ns.kernel_verb == "fetch":
        return commands.kernel_fetch(ns.version)
    if ns.kernel_verb == "list":
        return commands.kernel_list()
    if ns.kernel_verb == "patch":
        from harness.patching.command import kernel_patch

        return kernel_patch(ns.name, ns.onto, ns.file)
    raise UsageError("say `kernel fetch VERSION`, `kernel list` or "
                     "`kernel patch NAME --onto VERSION FILE`")
