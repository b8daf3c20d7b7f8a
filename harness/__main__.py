"""``python -m harness``: the same as ``buddy-harness``."""

import sys

from harness.cli import main

sys.exit(main())
