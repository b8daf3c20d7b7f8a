"""A pure-Python model of ``drivers/gpu/buddy.c`` as Linux 7.2 behaves.

Data structures
---------------
* ``_Node``: one buddy block (offset, order, parent, children, state, clear
  bit), created only when its parent is split and dropped when it merges
  back, so a 2^63-byte space costs what its live blocks cost.
* ``trees[tree][order]``: a :class:`FreeTree` per (clear state, order) holding
  the free blocks by offset (O(log n) find, insert and remove).  Tree 0 holds
  clear blocks, tree 1 dirty ones, the C's iteration order.
* ``roots``: the top blocks, largest first from offset 0 (a size that is not
  a power of two has one root per set bit).
* ``lists``: the caller's block lists by handle (the C's ``struct list_head``).

Every path keeps the C's order of checks and of search, its u64 and 32-bit
``fls`` arithmetic, and its side effects on failure (for example the splits a
failed range walk leaves behind), because the harness compares the model
with the C on every observable.  ``BUG_ON`` raises :class:`BackendCrash`;
``WARN_ON`` is recorded and reported by :meth:`warnings`.
"""

from __future__ import annotations

from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    RANGE,
    SLAB_BUDGET,
    TOPDOWN,
    TRIM_DISABLE,
    BackendCrash,
    Block,
    BuddyError,
)
from harness.backends.reference.freetree import FreeTree, RBNode

U64 = (1 << 64) - 1
UINT = (1 << 32) - 1
MAX_ORDER = 63 - 12
CLEAR_TREE, DIRTY_TREE = 0, 1
ALLOCATED, FREE, SPLIT = 1, 2, 3


class _Node(RBNode):
    __slots__ = ("order", "parent", "left", "right", "state", "clear")

    def __init__(self, parent: _Node | None, order: int, offset: int) -> None:
        super().__init__(offset)
        self.order = order
        self.parent = parent
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.state = 0
        self.clear = False


# --- the kernel's integer helpers, with its widths -------------------------

def ilog2(x: int) -> int:
    return x.bit_length() - 1


def fls32(x: int) -> int:
    """fls() takes an unsigned int: a 64-bit page count is truncated first."""
    return (x & UINT).bit_length()


def order_of(pages: int) -> int:
    """``fls(pages) - 1`` as the C's unsigned int (0 pages gives UINT_MAX)."""
    return (fls32(pages) - 1) & UINT


def loop_turns(pages: int, order: int) -> tuple[int, int]:
    """(blocks, smallest order) of the C's allocation loop for ``pages`` if every block
    is found at the order the loop asks for.

    Each turn sets ``order = min(order, fls(pages) - 1)`` and takes ``2^order`` pages,
    with fls() seeing only the low 32 bits.  Below 2^32 pages the order follows the
    count's top bit (a few turns); above it, the low bits can pin the order down, and
    each further 2^32 pages then take ``2^(32 - order)`` turns.
    """
    turns, high, low = 0, pages >> 32, pages & UINT
    while low:
        order = min(order, ilog2(low))
        turns += low >> order
        low &= (1 << order) - 1
    if high and order < 32:
        turns += high << (32 - order)
    return turns, order


def is_pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def roundup_pow2(x: int) -> int:
    # 1UL << fls_long(x - 1); a shift by 64 wraps to a shift by 0 on x86-64.
    return 1 << ((x - 1).bit_length() & 63)


def rounddown_pow2(x: int) -> int:
    return 1 << (x.bit_length() - 1)


def round_up(x: int, a: int) -> int:
    return (((x - 1) | (a - 1)) + 1) & U64


def range_overflows(start: int, size: int, limit: int) -> bool:
    return start >= limit or size > limit - start


def alignment_of(offset: int) -> int:
    """__ffs64 of the offset; offset 0 counts as aligned to everything."""
    return 65 if offset == 0 else (offset & -offset).bit_length() - 1


class BuddyModel:
    """One ``struct gpu_buddy``: the core API with integer handles for lists."""

    def __init__(self, size: int, chunk_size: int) -> None:
        if size < chunk_size or chunk_size < 4096 or not is_pow2(chunk_size):
            raise BuddyError("EINVAL")
        size -= size % chunk_size
        self._size = size
        self._chunk = chunk_size
        self._chunk_shift = ilog2(chunk_size)
        self.avail_bytes = size
        self.clear_bytes = 0
        self.max_order = ilog2(size) - self._chunk_shift
        self.trees: list[list[FreeTree]] = [
            [FreeTree() for _ in range(self.max_order + 1)] for _ in (CLEAR_TREE, DIRTY_TREE)
        ]
        self.roots: list[_Node] = []
        self.lists: dict[int, list[_Node]] = {}
        self._next_handle = 0
        self._warned: list[str] = []
        offset, rest = 0, size
        while rest:
            order = ilog2(rest) - self._chunk_shift
            root = self._new_node(None, order, offset)
            self._mark_free(root)
            self.roots.append(root)
            offset += chunk_size << order
            rest -= chunk_size << order

    # --- Allocator protocol ------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    @property
    def chunk_size(self) -> int:
        return self._chunk

    @property
    def avail(self) -> int:
        return self.avail_bytes

    @property
    def clear_avail(self) -> int:
        return self.clear_bytes

    def alloc(self, start: int, end: int, size: int, min_block_size: int,
              flags: int) -> tuple[int, list[Block]]:
        out: list[_Node] = []
        err = self._alloc_blocks(start, end, size, min_block_size, out, flags)
        if err:
            raise BuddyError(err)
        handle = self._next_handle
        self._next_handle += 1
        self.lists[handle] = out
        return handle, self._report(out)

    def free(self, handle: int, cleared: bool = False) -> None:
        self._free_list(self.lists.pop(handle), mark_clear=cleared, mark_dirty=not cleared)

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        blocks = self.lists[handle]
        err = self._block_trim(start, new_size, blocks)
        if err:
            raise BuddyError(err)
        return self._report(blocks)

    def reset_clear(self, is_clear: bool) -> None:
        self._merge_all_roots()
        src, dst = (DIRTY_TREE, CLEAR_TREE) if is_clear else (CLEAR_TREE, DIRTY_TREE)
        for order in range(self.max_order + 1):
            tree = self.trees[src][order]
            # The C walks the source tree in post-order while erasing from it;
            # erasing rebalances, so the walk can miss blocks.  Same walk here.
            node = tree.first_postorder()
            while node is not None:
                following = tree.next_postorder(node)
                tree.remove(node)
                node.clear = is_clear
                delta = self._chunk << node.order
                self.clear_bytes += delta if is_clear else -delta
                self.trees[dst][order].insert(node)
                node = following

    def fini(self) -> list[str]:
        self._merge_all_roots()
        for root in self.roots:
            self._assert(root.state == FREE, f"root at {root.offset:#x} is not free at fini")
        self._assert(self.avail_bytes == self._size,
                     f"avail {self.avail_bytes:#x} != size {self._size:#x} at fini")
        self.roots.clear()
        return self.warnings()

    def warnings(self) -> list[str]:
        out, self._warned = self._warned, []
        return out

    # --- block states and free trees --------------------------------------

    def _new_node(self, parent: _Node | None, order: int, offset: int) -> _Node:
        if order > MAX_ORDER:
            raise BackendCrash(f"BUG: block order {order} > {MAX_ORDER}", "bug")
        return _Node(parent, order, offset)

    def _bytes(self, node: _Node) -> int:
        return self._chunk << node.order

    def _insert(self, node: _Node, tree: int) -> None:
        self.trees[tree][node.order].insert(node)

    def _remove(self, node: _Node) -> None:
        self.trees[CLEAR_TREE if node.clear else DIRTY_TREE][node.order].remove(node)

    def _mark_free(self, node: _Node) -> None:
        node.state = FREE
        self._insert(node, CLEAR_TREE if node.clear else DIRTY_TREE)

    def _mark_allocated(self, node: _Node) -> None:
        node.state = ALLOCATED
        self._remove(node)

    def _take(self, node: _Node) -> None:
        """Mark allocated and charge the counters."""
        self._mark_allocated(node)
        self.avail_bytes -= self._bytes(node)
        if node.clear:
            self.clear_bytes -= self._bytes(node)

    def _split(self, node: _Node) -> None:
        if node.state != FREE or node.order == 0:
            raise BackendCrash(f"BUG: split of block at {node.offset:#x} "
                               f"(order {node.order}, state {node.state})", "bug")
        order = node.order - 1
        node.left = self._new_node(node, order, node.offset)
        node.right = self._new_node(node, order, node.offset + (self._chunk << order))
        node.state = SPLIT
        self._remove(node)
        if node.clear:
            node.left.clear = node.right.clear = True
            node.clear = False
        self._mark_free(node.left)
        self._mark_free(node.right)

    @staticmethod
    def _buddy(node: _Node) -> _Node | None:
        parent = node.parent
        if parent is None:
            return None
        return parent.right if parent.left is node else parent.left

    def _assert(self, ok: bool, text: str) -> None:
        if not ok:
            self._warned.append(f"WARNING: {text}")

    def _report(self, nodes: list[_Node]) -> list[Block]:
        return [Block(n.offset, n.order, self._chunk << n.order) for n in nodes]

    # --- freeing and merging ----------------------------------------------

    def _merge_up(self, node: _Node, force: bool) -> int:
        """Merge a block with free buddies as far as allowed; returns the final order."""
        while (parent := node.parent) is not None:
            buddy = self._buddy(node)
            assert buddy is not None
            if buddy.state != FREE:
                break
            if not force:
                if node.clear != buddy.clear:
                    break
                if node.clear:
                    parent.clear = True
            self._remove(buddy)
            if force and buddy.clear:
                self.clear_bytes -= self._bytes(buddy)
            parent.left = parent.right = None
            node = parent
        self._mark_free(node)
        return node.order

    def _free_block(self, node: _Node) -> None:
        if node.state != ALLOCATED:
            raise BackendCrash(f"BUG: free of block at {node.offset:#x} that is not "
                               "allocated", "bug")
        self.avail_bytes += self._bytes(node)
        if node.clear:
            self.clear_bytes += self._bytes(node)
        self._merge_up(node, force=False)

    def _free_list(self, nodes: list[_Node], *, mark_clear: bool = False,
                   mark_dirty: bool = False) -> None:
        for node in nodes:
            if mark_clear:
                node.clear = True
            elif mark_dirty:
                node.clear = False
            self._free_block(node)
        nodes.clear()

    def _force_merge(self, start: int, end: int, min_order: int) -> str | None:
        """Merge free buddies of differing clear state inside [start, end]."""
        if not min_order:
            return "ENOMEM"
        if min_order > self.max_order:
            return "EINVAL"
        for tree in (CLEAR_TREE, DIRTY_TREE):
            for order in range(min_order - 1, -1, -1):
                free = self.trees[tree][order]
                node = free.last()
                while node is not None:
                    here = node.offset
                    buddy = self._buddy(node)
                    last = here + self._bytes(node) - 1
                    if (buddy is not None and start <= here and end >= last
                            and buddy.state == FREE):
                        self._assert(node.clear != buddy.clear,
                                     "force merge of two free buddies in the same clear state")
                        self._remove(node)
                        if node.clear:
                            self.clear_bytes -= self._bytes(node)
                        if self._merge_up(node, force=True) >= min_order:
                            return None
                    node = free.before(here)
        return "ENOMEM"

    def _merge_all_roots(self) -> None:
        rest = self._size
        for root in self.roots:
            order = ilog2(rest) - self._chunk_shift
            self._force_merge(root.offset, root.offset + rest, order)
            rest -= self._chunk << order

    # --- exact range --------------------------------------------------------

    def _alloc_range(self, dfs: list[_Node], start: int, size: int, out: list[_Node],
                     keep_partial: list[int] | None) -> str | None:
        """Take every free block covering [start, start + size), left first."""
        end = start + size - 1
        taken: list[_Node] = []
        total = 0
        err = None
        while dfs:
            node = dfs.pop()
            b_start = node.offset
            b_end = b_start + self._bytes(node) - 1
            if not (start <= b_end and end >= b_start):
                continue
            if node.state == ALLOCATED:
                err = "ENOSPC"
                break
            if start <= b_start and end >= b_end:
                if node.state == FREE:
                    self._take(node)
                    total += self._bytes(node)
                    taken.append(node)
                    continue
                if not self.clear_bytes:
                    err = "ENOSPC"
                    break
            if node.state != SPLIT:
                self._split(node)
            assert node.left is not None and node.right is not None
            dfs.append(node.right)
            dfs.append(node.left)
        if err is None and total < size:
            err = "ENOSPC"
        if err is None:
            out.extend(taken)
            return None
        if keep_partial is not None:
            out.extend(taken)
            keep_partial[0] = total
        else:
            self._free_list(taken)
        return err

    def _alloc_range_from_roots(self, start: int, size: int, out: list[_Node],
                                keep_partial: list[int] | None = None) -> str | None:
        return self._alloc_range(self.roots[::-1], start, size, out, keep_partial)

    # --- range walk (RANGE flag) ------------------------------------------

    def _range_walk(self, start: int, end: int, order: int, flags: int,
                    fallback: bool) -> _Node | str:
        req = self._chunk << order
        end = (end - 1) & U64
        dfs = self.roots[::-1]
        want_clear = bool(flags & CLEAR)
        while dfs:
            node = dfs.pop()
            if node.order < order:
                continue
            b_start = node.offset
            b_end = b_start + self._bytes(node) - 1
            if not (start <= b_end and end >= b_start):
                continue
            if node.state == ALLOCATED:
                continue
            if b_start < start or b_end > end:
                lo, hi = max(b_start, start), min(b_end, end)
                if (hi + 1) - (hi + 1) % req <= round_up(lo, req):
                    continue
            if not fallback and want_clear != node.clear:
                continue
            if start <= b_start and end >= b_end and node.order == order:
                if node.state == FREE:
                    return node
                continue
            if node.state != SPLIT:
                self._split(node)
            assert node.left is not None and node.right is not None
            dfs.append(node.right)
            dfs.append(node.left)
        return "ENOSPC"

    # --- from the free trees ----------------------------------------------

    def _from_freetree(self, order: int, flags: int) -> _Node | str:
        tree = CLEAR_TREE if flags & CLEAR else DIRTY_TREE
        node: _Node | None = None
        if flags & TOPDOWN:
            for o in range(order, self.max_order + 1):
                cand = self.trees[tree][o].last()
                if cand is not None and (node is None or cand.offset > node.offset):
                    node = cand
        else:
            node = self._first_fit(tree, order)
        if node is None:
            node = self._first_fit(1 - tree, order)
            if node is None:
                return "ENOSPC"
        while node.order != order:
            self._split(node)
            assert node.right is not None
            node = node.right
        return node

    def _first_fit(self, tree: int, order: int) -> _Node | None:
        for o in range(order, self.max_order + 1):
            node = self.trees[tree][o].last()
            if node is not None:
                return node
        return None

    def _offset_aligned(self, size: int, min_block_size: int, flags: int) -> _Node | str:
        """7.2: a block of ``size`` at an offset aligned to ``min_block_size``."""
        order = order_of(size >> self._chunk_shift)
        tree = CLEAR_TREE if flags & CLEAR else DIRTY_TREE
        node: _Node | None = None
        for o in range(order, self.max_order + 1):
            node = self.trees[tree][o].last_aligned(min_block_size)
            if node is None:
                tree = 1 - tree  # the C keeps the switched tree for higher orders
                node = self.trees[tree][o].last_aligned(min_block_size)
            if node is not None:
                break
        if node is None:
            return "ENOSPC"
        align = ilog2(min_block_size)
        while node.order > order:
            self._split(node)
            assert node.left is not None and node.right is not None
            node = node.right if alignment_of(node.right.offset) >= align else node.left
        return node

    def _one_block(self, start: int, end: int, size: int, min_block_size: int, order: int,
                   flags: int) -> _Node | str:
        if flags & RANGE:
            got = self._range_walk(start, end, order, flags, fallback=False)
            if isinstance(got, str):
                got = self._range_walk(start, end, order, flags, fallback=True)
            return got
        if size < min_block_size:
            return self._offset_aligned(size, min_block_size, flags)
        return self._from_freetree(order, flags)

    # --- contiguous fallback ----------------------------------------------

    def _try_harder(self, size: int, min_block_size: int, out: list[_Node]) -> str | None:
        order = ilog2(rounddown_pow2(size)) - self._chunk_shift
        if order == 0:
            return "ENOSPC"
        for tree in (CLEAR_TREE, DIRTY_TREE):
            free = self.trees[tree][order]
            node = free.last()
            while node is not None:
                rhs = node.offset
                filled = [0]
                err = self._alloc_range_from_roots(rhs, size, out, filled)
                if err and err != "ENOSPC":
                    return err
                if not err and rhs % min_block_size == 0:
                    return None
                if not err:
                    self._free_list(out)
                    err = self._alloc_range_from_roots(rhs - rhs % min_block_size, size, out)
                    if not err:
                        return None
                    if err != "ENOSPC":
                        self._free_list(out)
                        return err
                elif size - filled[0] <= rhs:
                    lhs = rhs - (size - filled[0])
                    self._free_list(out)
                    err = self._alloc_range_from_roots(lhs - lhs % min_block_size, size, out)
                    if not err:
                        return None
                    if err != "ENOSPC":
                        self._free_list(out)
                        return err
                self._free_list(out)
                node = free.before(rhs)
        return "ENOSPC"

    # --- trim ---------------------------------------------------------------

    def _block_trim(self, start: int | None, new_size: int, blocks: list[_Node]) -> str | None:
        if len(blocks) != 1:
            return "EINVAL"
        node = blocks[0]
        b_start = node.offset
        b_end = b_start + self._bytes(node)
        if node.state != ALLOCATED:
            self._assert(False, f"trim of block at {b_start:#x} that is not allocated")
            return "EINVAL"
        if new_size > self._bytes(node):
            return "EINVAL"
        if not new_size or new_size % self._chunk:
            return "EINVAL"
        if new_size == self._bytes(node):
            return None
        new_start = b_start
        if start is not None:
            new_start = start
            if new_start < b_start or new_start % self._chunk:
                return "EINVAL"
            if range_overflows(new_start, new_size, b_end):
                return "EINVAL"
        blocks.clear()
        self._mark_free(node)
        self.avail_bytes += self._bytes(node)
        if node.clear:
            self.clear_bytes += self._bytes(node)
        parent, node.parent = node.parent, None  # keep the walk from merging upwards
        err = self._alloc_range([node], new_start, new_size, blocks, None)
        if err:
            self._take(node)
            blocks.insert(0, node)
        node.parent = parent
        return err

    # --- gpu_buddy_alloc_blocks ---------------------------------------------

    def _alloc_blocks(self, start: int, end: int, size: int, min_block_size: int,
                      out: list[_Node], flags: int) -> str | None:
        chunk = self._chunk
        if size < chunk or min_block_size < chunk or not is_pow2(min_block_size):
            return "EINVAL"
        if (start | end | size) % chunk:
            return "EINVAL"
        if end > self._size or range_overflows(start, size, self._size):
            return "EINVAL"
        if start + size == end:
            if (start | end) % min_block_size:
                return "EINVAL"
            return self._alloc_range_from_roots(start, size, out)

        original_size, original_min = size, min_block_size
        if flags & CONTIGUOUS:
            size = roundup_pow2(size)
            min_block_size = size
        elif not (size < min_block_size and is_pow2(size)):
            size = round_up(size, min_block_size)

        pages = size >> self._chunk_shift
        order = order_of(pages)
        min_order = (ilog2(min_block_size) - self._chunk_shift) & UINT
        if order > self.max_order or size > self._size:
            if flags & CONTIGUOUS and not flags & RANGE:
                return self._try_harder(original_size, original_min, out)
            return "EINVAL"

        turns, pinned = loop_turns(pages, order)
        room = min(self.avail_bytes, end - start) if flags & RANGE and end else self.avail_bytes
        if turns > SLAB_BUDGET and room >> (self._chunk_shift + pinned) > SLAB_BUDGET:
            # Each turn leaves one more live block, and there is room for them: the C
            # exhausts memory before it finishes (or fails with ENOSPC).  A RANGE walk
            # starts from the roots every turn and passes every block taken so far, so
            # there the C runs for hours first: a timeout, as the worker reports it.
            if flags & RANGE:
                raise BackendCrash(f"timeout: a {size:#x}-byte RANGE request would take "
                                   f"{turns} blocks, each by a walk past all those before "
                                   "it", "timeout")
            raise BackendCrash(f"oom: a {size:#x}-byte request would take {turns} blocks, "
                               f"more than the {SLAB_BUDGET} block structures of the "
                               "slab budget", "oom")
        taken: list[_Node] = []
        while True:
            order = min(order, order_of(pages))
            if order > self.max_order or (size >= min_block_size and order < min_order):
                raise BackendCrash(f"BUG: order {order} (min {min_order}, max "
                                   f"{self.max_order}) for a {size:#x}-byte request", "bug")
            while True:
                got = self._one_block(start, end, size, min_block_size, order, flags)
                if not isinstance(got, str):
                    break
                if size < min_block_size:
                    fallback = order
                elif order == min_order:
                    fallback = min_order
                else:
                    order -= 1
                    continue
                if self.clear_bytes and self._force_merge(start, end, fallback) is None:
                    got = self._one_block(start, end, size, min_block_size, fallback, flags)
                    if not isinstance(got, str):
                        order = fallback
                        break
                if flags & CONTIGUOUS and not flags & RANGE:
                    return self._try_harder(original_size, original_min, out)
                self._free_list(taken)
                return "ENOSPC"
            self._take(got)
            taken.append(got)
            pages = (pages - (1 << order)) & U64
            if not pages:
                break

        if not flags & TRIM_DISABLE and original_size != size:
            if len(taken) == 1:
                self._block_trim(None, original_size, taken)
            else:
                last = [taken.pop()]
                self._block_trim(None, self._bytes(last[0]) - (size - original_size), last)
                taken.extend(last)
        out.extend(taken)
        return None
