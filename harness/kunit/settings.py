"""How the KUnit items run in this process: the seed, whether slow cases run, the time limit.

Set once from the command line (``--kunit-seed``, ``--kunit-skip-slow``) or pytest's
options; every native backend's KUnit suite reads it when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fixed, so CI's runs are reproducible; any other is one option away.
DEFAULT_SEED = 0x5EED1E55
CASE_TIMEOUT = 60.0  # seconds per case; KUnit's own default is 300


@dataclass
class KunitSettings:
    seed: int = DEFAULT_SEED
    skip_slow: bool = False
    timeout: float = CASE_TIMEOUT


SETTINGS = KunitSettings()


def configure(seed: int | None = None, skip_slow: bool = False,
              timeout: float | None = None) -> None:
    SETTINGS.seed = DEFAULT_SEED if seed is None else seed
    SETTINGS.skip_slow = skip_slow
    SETTINGS.timeout = CASE_TIMEOUT if timeout is None else timeout


def seed_value(text: str) -> int:
    """A seed as KUnit prints it (0x...) or in decimal: 32 bits, as get_random_u32()."""
    import argparse

    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a seed (give 0x5eed1e55 or a "
                                         "decimal number)") from None
    if not 0 <= value < 1 << 32:
        raise argparse.ArgumentTypeError(f"'{text}' is not a 32-bit seed (0 .. 0xffffffff)")
    return value
