"""Which mutants' code each corpus item reaches, from the unmutated run.

The schema is also built with ``-DBH_REACH`` (:mod:`harness.mutation.schema`):
that worker marks mutant K in a byte array each time control arrives where K's
code would run (the test ``BH_IS(K)``, or the entry of a function K has a copy
of).  The array is a file both the harness and the worker map, so what a worker
marked before it died (an item whose expected verdict is a crash) is still
there.  The harness reads and clears it after each item of the recording.

A mutant whose code an item never reaches runs that item exactly as the
original does, from the same state: the judge need not run it.  It uses that
only where running costs most and the state after is known, an item whose run
ends with its worker dead (the next item starts on a fresh worker either way).
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

ENV = "BH_REACHED"  # the array's file, for the reach worker
WORKER = "buddy-worker-reach"

# The worker's side: map the file named by $BH_REACHED (a private array without it).
RUNTIME = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

unsigned char *bh_reached;
static unsigned char bh_unmapped[BH_REACH_SIZE];

__attribute__((constructor)) static void bh_map_reached(void)
{
	const char *path = getenv("BH_REACHED");
	int fd = path ? open(path, O_RDWR) : -1;
	void *p = fd < 0 ? MAP_FAILED :
		mmap(NULL, BH_REACH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	bh_reached = p == MAP_FAILED ? bh_unmapped : p;
	if (fd >= 0)
		close(fd);
}
"""


def runtime_source(out: Path, mutants: int) -> tuple[Path, list[str]]:
    """The runtime's C file under ``out`` and the flag that sizes its array."""
    src = out / "reach.c"
    src.write_text(RUNTIME, encoding="utf-8")
    return src, [f"-DBH_REACH_SIZE={mutants + 1}"]


class Reached:
    """The harness's side of the array: marks since the last :meth:`take`."""

    def __init__(self, mutants: int) -> None:
        fd, name = tempfile.mkstemp(prefix="buddy-reached-")
        self.path = Path(name)
        os.ftruncate(fd, mutants + 1)
        self._map = mmap.mmap(fd, mutants + 1)
        os.close(fd)

    def take(self) -> frozenset[int]:
        """The mutants marked since the last call (then clears the marks)."""
        data = self._map[:]
        self._map[:] = bytes(len(data))
        return frozenset(i for i, b in enumerate(data) if b)

    def close(self) -> None:
        self._map.close()
        self.path.unlink(missing_ok=True)
