"""The free tree keeps red-black invariants and offset order under any insert/erase sequence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.backends.reference.freetree import FreeTree, RBNode


def black_height(n: RBNode | None) -> int:
    if n is None:
        return 1
    for child in (n.rb_left, n.rb_right):
        if child is not None:
            assert child.rb_parent is n
            assert not (n.rb_red and child.rb_red), "red node with a red child"
    left, right = black_height(n.rb_left), black_height(n.rb_right)
    assert left == right, "unequal black heights"
    return left + (0 if n.rb_red else 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 63)), max_size=200))
def test_red_black_invariants(ops):
    tree, nodes = FreeTree(), {}
    for add, key in ops:
        if add and key not in nodes:
            nodes[key] = RBNode(key)
            tree.insert(nodes[key])
        elif not add and key in nodes:
            tree.remove(nodes.pop(key))
        assert tree.root is None or (not tree.root.rb_red and tree.root.rb_parent is None)
        black_height(tree.root)
        assert [n.offset for n in tree] == sorted(nodes) and len(tree) == len(nodes)
        for probe in (0, 17, 64):
            below = [k for k in nodes if k < probe]
            got = tree.before(probe)
            assert (got.offset if got else None) == (max(below) if below else None)
        aligned = [k for k in nodes if k % 8 == 0]
        got = tree.last_aligned(8)
        assert (got.offset if got else None) == (max(aligned) if aligned else None)


def test_postorder_walk_visits_children_before_parents():
    tree = FreeTree()
    for k in range(15):
        tree.insert(RBNode(k))
    seen: list[RBNode] = []
    n = tree.first_postorder()
    while n is not None:
        for child in (n.rb_left, n.rb_right):
            assert child is None or child in seen
        seen.append(n)
        n = tree.next_postorder(n)
    assert len(seen) == 15 and seen[-1] is tree.root
