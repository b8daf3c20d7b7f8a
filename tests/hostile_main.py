"""``python -m tests.hostile_main ARGS``: ``buddy-harness ARGS`` with the miniatures' names
usable as backends, so hostile runs of ``diff`` and ``fuzz`` can pass two working backends
without building a kernel."""

import sys

from harness.cli import main
from tests import miniatures

if __name__ == "__main__":
    with miniatures.registered():
        sys.exit(main())
