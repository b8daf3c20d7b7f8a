"""The reference model against hand-traced placements, and its invariants under random use.

Each placement test says which path of ``gpu_buddy_alloc_blocks`` it walks;
the expected offsets were worked out by hand from the 7.2 C, not read back
from the model.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    TRIM_DISABLE,
    Block,
    BuddyError,
)
from harness.backends.binding import GpuBuddy
from harness.backends.reference import BuddyModel, ReferenceBackend
from harness.backends.reference.model import CLEAR_TREE, DIRTY_TREE, FREE, loop_turns, order_of

K, M, G = 1 << 10, 1 << 20, 1 << 30


def blocks(mm: BuddyModel, *args: int) -> list[tuple[int, int]]:
    return [(b.offset, b.size) for b in mm.alloc(*args)[1]]


# --- init -----------------------------------------------------------------

@pytest.mark.parametrize("size, chunk", [(4 * K, 8 * K), (1 * M, 2 * K), (1 * M, 12 * K)])
def test_init_refuses(size, chunk):
    # size < chunk, chunk < 4K, chunk not a power of two: each EINVAL.
    with pytest.raises(BuddyError) as e:
        BuddyModel(size, chunk)
    assert e.value.errno == "EINVAL"


def test_init_rounds_down_and_makes_one_root_per_bit():
    mm = BuddyModel(768 * M + 5 * K, 4 * K)
    assert mm.size == 768 * M + 4 * K
    assert [(r.offset, mm.chunk_size << r.order) for r in mm.roots] == [
        (0, 512 * M), (512 * M, 256 * M), (768 * M, 4 * K)]


# --- placement --------------------------------------------------------------

def test_simple_takes_highest_offset_of_the_smallest_sufficient_order():
    # Free trees path: the 4K root is the smallest free block, so it goes first;
    # the next 4K comes from the top of the 256M root (right halves kept).
    mm = BuddyModel(768 * M + 4 * K, 4 * K)
    assert blocks(mm, 0, 0, 4 * K, 4 * K, 0) == [(768 * M, 4 * K)]
    assert blocks(mm, 0, 0, 4 * K, 4 * K, 0) == [(768 * M - 4 * K, 4 * K)]


def test_topdown_picks_the_highest_offset_over_all_orders():
    # A free 4K block at 64M - 4K beats the larger free blocks below it:
    # TOPDOWN compares the last block of every order, Simple does not.
    mm = BuddyModel(64 * M, 4 * K)
    a, _ = mm.alloc(0, 0, 4 * K, 4 * K, 0)        # 64M - 4K
    mm.alloc(0, 0, 4 * K, 4 * K, 0)               # 64M - 8K
    mm.free(a)                                    # hole at 64M - 4K (order 0)
    assert blocks(mm, 0, 0, 8 * K, 8 * K, TOPDOWN) == [(64 * M - 16 * K, 8 * K)]
    assert blocks(mm, 0, 0, 4 * K, 4 * K, TOPDOWN) == [(64 * M - 4 * K, 4 * K)]


def test_rustdoc_examples_1_and_2_simple_and_topdown_16m_land_at_the_top():
    gb = GpuBuddy(ReferenceBackend(), 0, G, 4 * K)
    for mode in (("simple",), ("topdown",)):
        got = gb.alloc_blocks(mode, 16 * M, 16 * M)
        assert got.blocks() == [Block(G - 16 * M, 12, 16 * M)]
        assert gb.avail() == G - 16 * M
        got.drop()
        assert gb.avail() == G
    assert gb.close() == []


def test_rustdoc_example_3_range_fills_two_holes_left_first():
    # Range walk: no free 8M block lies in [0, 16M), so the order drops to 4M
    # and the walk, left first, takes [4M, 8M) then [12M, 16M).
    gb = GpuBuddy(ReferenceBackend(), 0, G, 4 * K)
    h1 = gb.alloc_blocks(("range", 0, 4 * M), 4 * M, 4 * M)
    h2 = gb.alloc_blocks(("range", 8 * M, 12 * M), 4 * M, 4 * M)
    got = gb.alloc_blocks(("range", 0, 16 * M), 8 * M, 4 * M)
    assert [(b.offset, b.size) for b in got.blocks()] == [(4 * M, 4 * M), (12 * M, 4 * M)]
    assert gb.avail() == G - 16 * M
    for h in (got, h1, h2):
        h.drop()
    assert gb.avail() == G


def test_rustdoc_example_4_contiguous_fails_over_two_holes():
    # Free trees have no order-11 block and try-harder finds no order-11 start.
    gb = GpuBuddy(ReferenceBackend(), 0, 16 * M, 4 * K)
    gb.alloc_blocks(("range", 0, 4 * M), 4 * M, 4 * M)
    gb.alloc_blocks(("range", 8 * M, 12 * M), 4 * M, 4 * M)
    with pytest.raises(BuddyError) as e:
        gb.alloc_blocks(("simple",), 8 * M, 4 * M, {"contiguous"})
    assert e.value.errno == "ENOSPC"


def test_v12_example_range_0_0_core_lands_at_zero_binding_refuses_simple_at_top():
    # Core: RANGE with end = 0 wraps end - 1 to U64_MAX, the walk goes left first.
    mm = BuddyModel(G, 4 * K)
    assert blocks(mm, 0, 0, 16 * M, 16 * M, RANGE) == [(0, 16 * M)]
    gb = GpuBuddy(ReferenceBackend(), 0, G, 4 * K)
    with pytest.raises(BuddyError):
        gb.alloc_blocks(("range", 0, 0), 16 * M, 16 * M)
    assert gb.alloc_blocks(("simple",), 16 * M, 16 * M).blocks()[0].offset == G - 16 * M


def test_exact_range_when_start_plus_size_is_end_whatever_the_flags():
    mm = BuddyModel(G, 4 * K)
    assert blocks(mm, 8 * M, 20 * M, 12 * M, 4 * K, TOPDOWN) == [(8 * M, 8 * M), (16 * M, 4 * M)]
    with pytest.raises(BuddyError) as e:  # exact range needs min_block_size alignment
        mm.alloc(4 * M, 12 * M, 8 * M, 8 * M, 0)
    assert e.value.errno == "EINVAL"


def test_offset_aligned_allocation_keeps_size_and_aligns_offset():
    # size < min_block_size and a power of two: no rounding; the split descends
    # right while the right half is 64K-aligned, then left: 1M - 64K.
    mm = BuddyModel(M, 4 * K)
    assert blocks(mm, 0, 0, 4 * K, 64 * K, 0) == [(M - 64 * K, 4 * K)]
    assert mm.avail == M - 4 * K


def test_contiguous_non_power_of_two_is_rounded_then_trimmed():
    # 12M rounds to 16M at the top, then trim keeps [1008M, 1020M) as 8M + 4M.
    mm = BuddyModel(G, 4 * K)
    assert blocks(mm, 0, 0, 12 * M, 4 * K, CONTIGUOUS) == [(G - 16 * M, 8 * M),
                                                          (G - 8 * M, 4 * M)]
    assert mm.avail == G - 12 * M
    # TRIM_DISABLE keeps the whole rounded block.
    assert blocks(mm, 0, 0, 12 * M, 4 * K, CONTIGUOUS | TRIM_DISABLE) == [(G - 32 * M, 16 * M)]


def test_contiguous_try_harder_straddles_two_blocks():
    # 12M rounds to 16M and no free 16M block exists, so try-harder walks the
    # free 8M blocks (rounddown_pow_of_two(12M)) from the top.  From 16M the
    # range runs into [24M, 32M) (ENOSPC after filling 8M), so it retries
    # 12M - 8M = 4M lower, at 12M, and takes [12M, 24M) as 4M + 8M.
    mm = BuddyModel(32 * M, 4 * K)
    mm.alloc(0, 12 * M, 12 * M, 4 * K, 0)
    mm.alloc(24 * M, 32 * M, 8 * M, 4 * K, 0)
    assert blocks(mm, 0, 0, 12 * M, 4 * K, CONTIGUOUS) == [(12 * M, 4 * M), (16 * M, 8 * M)]
    # 8M has no free 8M block to start from: try-harder gives up (ENOSPC)
    # although [4M, 12M) would do: it only looks at blocks of 8M.
    mm2 = BuddyModel(16 * M, 4 * K)
    mm2.alloc(0, 4 * M, 4 * M, 4 * M, RANGE)
    mm2.alloc(12 * M, 16 * M, 4 * M, 4 * M, RANGE)
    with pytest.raises(BuddyError) as e:
        mm2.alloc(0, 0, 8 * M, 4 * K, CONTIGUOUS)
    assert e.value.errno == "ENOSPC"


def test_clear_allocation_prefers_clear_then_falls_back_to_dirty():
    mm = BuddyModel(64 * M, 4 * K)
    a, _ = mm.alloc(0, 0, 16 * M, 16 * M, 0)      # [48M, 64M)
    mm.free(a, cleared=True)                      # clear 16M next to a dirty 16M
    assert mm.clear_avail == 16 * M
    assert blocks(mm, 0, 0, 4 * K, 4 * K, CLEAR) == [(64 * M - 4 * K, 4 * K)]
    assert mm.clear_avail == 16 * M - 4 * K
    # A dirty request never takes clear memory while dirty remains.
    assert blocks(mm, 0, 0, 4 * K, 4 * K, 0)[0][0] < 48 * M


def test_force_merge_joins_clear_and_dirty_buddies_for_a_large_request():
    mm = BuddyModel(64 * M, 4 * K)
    mm.alloc(0, 0, 32 * M, 32 * M, 0)             # [32M, 64M) stays allocated
    a, _ = mm.alloc(0, 0, 16 * M, 16 * M, 0)      # [16M, 32M)
    b, _ = mm.alloc(0, 0, 16 * M, 16 * M, 0)      # [0, 16M)
    mm.free(a, cleared=True)
    mm.free(b)                                    # buddies, one clear, one dirty
    # 32M with min_block_size 32M: no order-13 block, order is already the
    # minimum, so the force merge inside [0, 64M] joins the pair into a dirty 32M.
    assert blocks(mm, 0, 64 * M, 32 * M, 32 * M, 0) == [(0, 32 * M)]
    assert mm.clear_avail == 0
    assert mm.warnings() == []


def test_trim_keeps_the_requested_window_in_ascending_order():
    mm = BuddyModel(G, 4 * K)
    h, _ = mm.alloc(0, 0, 16 * M, 16 * M, 0)
    got = mm.trim(h, 12 * M, G - 12 * M)
    assert [(b.offset, b.size) for b in got] == [(G - 12 * M, 4 * M), (G - 8 * M, 8 * M)]
    assert mm.avail == G - 12 * M
    with pytest.raises(BuddyError):
        mm.trim(h, 4 * M)  # two blocks now: trim wants a single-block list
    mm.free(h)
    assert mm.avail == G and mm.fini() == []


def test_reset_clear_moves_every_free_block():
    mm = BuddyModel(G, 4 * K)
    h, _ = mm.alloc(0, 0, 4 * K, 4 * K, 0)
    mm.reset_clear(True)
    assert mm.clear_avail == G - 4 * K
    mm.reset_clear(False)
    assert mm.clear_avail == 0
    mm.free(h)
    assert mm.fini() == []


def test_fini_warns_about_a_leak():
    mm = BuddyModel(16 * M, 4 * K)
    mm.alloc(0, 0, 4 * K, 4 * K, 0)
    warnings = mm.fini()
    assert any("not free" in w for w in warnings) and any("avail" in w for w in warnings)


def test_page_count_goes_through_32_bit_fls():
    # 2^32 pages truncate to 0 in fls(unsigned int): order UINT_MAX, EINVAL.
    mm = BuddyModel(1 << 45, 4 * K)
    with pytest.raises(BuddyError) as e:
        mm.alloc(0, 0, 1 << 44, 4 * K, 0)
    assert e.value.errno == "EINVAL"
    assert blocks(mm, 0, 0, 1 << 43, 1 << 43, 0) == [(1 << 44 | 1 << 43, 1 << 43)]


def test_huge_space_costs_only_its_live_blocks():
    mm = BuddyModel(1 << 63, 4 * K)
    assert blocks(mm, 0, 0, 4 * K, 4 * K, 0) == [((1 << 63) - 4 * K, 4 * K)]
    live = sum(len(t) for trees in mm.trees for t in trees)
    assert live == 51  # one free buddy per level on the way down


# --- invariants under random operation sequences ----------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 64), st.sampled_from([1, 2, 4, 16]),
                  st.sampled_from([0, RANGE, TOPDOWN, CONTIGUOUS, CLEAR, CLEAR | TOPDOWN,
                                   CONTIGUOUS | TRIM_DISABLE, RANGE | CLEAR]),
                  st.integers(0, 255), st.integers(0, 255)),
        st.tuples(st.just("free"), st.integers(0, 40), st.booleans()),
        st.tuples(st.just("trim"), st.integers(0, 40), st.integers(1, 64)),
        st.tuples(st.just("reset"), st.booleans()),
    ),
    max_size=60,
)


def check_invariants(mm: BuddyModel) -> None:
    live = sorted((b.offset, b.size) for nodes in mm.lists.values()
                  for b in mm._report(nodes))
    assert mm.avail == mm.size - sum(s for _, s in live)
    assert 0 <= mm.clear_avail <= mm.avail
    end = 0
    for off, size in live:
        assert off >= end and off % size == 0 and off + size <= mm.size
        end = off + size
    free_total = clear_total = 0
    for tree in (CLEAR_TREE, DIRTY_TREE):
        for order, t in enumerate(mm.trees[tree]):
            for node in t:
                assert node.state == FREE and node.order == order
                assert node.clear == (tree == CLEAR_TREE)
                free_total += mm.chunk_size << order
                clear_total += (mm.chunk_size << order) if node.clear else 0
    assert free_total == mm.avail and clear_total == mm.clear_avail


@settings(max_examples=150, deadline=None)
@given(size_pages=st.sampled_from([256, 255, 384, 1000, 1 << 12]), ops=OPS)
def test_invariants_hold_after_every_step(size_pages, ops):
    chunk = 4 * K
    mm = BuddyModel(size_pages * chunk, chunk)
    handles: list[int] = []
    for op in ops:
        try:
            if op[0] == "alloc":
                _, pages, mb, flags, s, e = op
                start, end = sorted((s % size_pages, e % size_pages))
                h, _ = mm.alloc(start * chunk, end * chunk, pages * chunk, mb * chunk, flags)
                handles.append(h)
            elif op[0] == "free" and handles:
                mm.free(handles.pop(op[1] % len(handles)), op[2])
            elif op[0] == "trim" and handles:
                mm.trim(handles[op[1] % len(handles)], op[2] * chunk)
            elif op[0] == "reset":
                mm.reset_clear(op[1])
        except BuddyError:
            pass
        check_invariants(mm)
    for h in handles:
        mm.free(h)
    assert mm.avail == mm.size
    assert not [w for w in mm.fini() if "not free" in w or "avail" in w]


# --- the binding layer under threads ----------------------------------------

def test_binding_serializes_threads():
    gb = GpuBuddy(ReferenceBackend(), 1 << 40, 256 * M, 4 * K)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        import random

        rng = random.Random(seed)
        held = []
        try:
            for _ in range(1500):
                if held and rng.random() < 0.5:
                    held.pop(rng.randrange(len(held))).drop()
                else:
                    try:
                        held.append(gb.alloc_blocks(
                            rng.choice([("simple",), ("topdown",),
                                        ("range", 0, 64 * M), ("range", 0, 1 << 40)]),
                            rng.choice([4, 12, 64, 1024]) * K, 4 * K,
                            rng.choice([set(), {"contiguous"}, {"clear"}])))
                    except BuddyError as e:
                        assert e.errno in ("ENOSPC", "EINVAL")
            for h in held:
                h.drop()
        except BaseException as e:  # reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert gb.avail() == 256 * M
    check_invariants(gb.core)  # type: ignore[arg-type]
    assert gb.close() == []


# -- the allocation loop's arithmetic (fls() sees 32 bits) ------------------------

def _turns_one_by_one(pages: int, limit: int = 50_000) -> tuple[int, int] | None:
    """The C loop itself, turn by turn, when every block is found; None past ``limit``."""
    order, turns = order_of(pages), 0
    while pages:
        order = min(order, order_of(pages))
        pages -= 1 << order
        turns += 1
        if turns > limit:
            return None
    return turns, order


# Above 2^32 pages, counts whose low bits keep the order high enough to walk.
_HIGH_PAGES = st.builds(lambda high, o, rest: (high << 32) | (1 << o) | (rest << 20),
                        st.integers(1, 8), st.integers(20, 31), st.integers(0, (1 << 11) - 1))


@given(st.one_of(st.integers(1, 1 << 45), _HIGH_PAGES))
def test_loop_turns_counts_what_the_loop_does(pages):
    if order_of(pages) > 63:
        return  # the order wrapped: EINVAL before the loop
    walked = _turns_one_by_one(pages)
    if walked is not None:
        assert loop_turns(pages, order_of(pages)) == walked


def test_loop_turns_above_2_pow_32_pages():
    assert loop_turns(0b1011, order_of(0b1011)) == (3, 0)
    assert loop_turns(1 << 31, 31) == (1, 31)
    assert loop_turns((1 << 33) + (1 << 31), 31) == (5, 31)  # fls() sees 2^31: 2^31 a turn
    # 2^32 + 2 pages: fls() sees 2, the order is pinned at 1 for 2^31 + 1 turns.
    assert loop_turns((1 << 32) + 2, 1) == ((1 << 31) + 1, 1)
