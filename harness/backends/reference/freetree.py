"""One free tree: the free blocks of one (clear state, order), a red-black tree by offset.

The C keeps each free tree as a kernel rb-tree, and one of its paths walks a
tree in post-order while erasing from it (``gpu_buddy_reset_clear``).  Erasing
rebalances the tree, so that walk can skip nodes, and which ones it skips
depends on the tree's exact shape.  To behave the same, this tree rebalances
exactly as the kernel's ``lib/rbtree.c`` does: the same insert cases, the
same successor choice on erase, the same recolouring, so after the same
sequence of inserts and erases it has the same shape.  Lookups by offset
(highest, highest below, highest aligned) are O(log n) descents.

Nodes carry their own links (``RBNode``), like the C's embedded ``rb_node``.
"""

from __future__ import annotations

from collections.abc import Iterator


class RBNode:
    __slots__ = ("offset", "rb_parent", "rb_left", "rb_right", "rb_red")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.rb_parent: RBNode | None = None
        self.rb_left: RBNode | None = None
        self.rb_right: RBNode | None = None
        self.rb_red = False


def _is_red(n: RBNode | None) -> bool:
    return n is not None and n.rb_red


def _left_deepest(n: RBNode) -> RBNode:
    while True:
        if n.rb_left is not None:
            n = n.rb_left
        elif n.rb_right is not None:
            n = n.rb_right
        else:
            return n


class FreeTree:
    __slots__ = ("root", "count")

    def __init__(self) -> None:
        self.root: RBNode | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.root is not None

    # --- queries ------------------------------------------------------------

    def last(self):  # -> the node type stored (RBNode subclass)
        n = self.root
        if n is None:
            return None
        while n.rb_right is not None:
            n = n.rb_right
        return n

    def before(self, offset: int):
        """The node with the highest offset below ``offset`` (rb_prev by key)."""
        n, best = self.root, None
        while n is not None:
            if n.offset < offset:
                best, n = n, n.rb_right
            else:
                n = n.rb_left
        return best

    def find(self, offset: int):
        n = self.root
        while n is not None and n.offset != offset:
            n = n.rb_left if offset < n.offset else n.rb_right
        return n

    def last_aligned(self, align: int):
        """The highest-offset node whose offset is a multiple of ``align``.

        What the C finds by descending its alignment-augmented tree; here each
        probe jumps below the next multiple of ``align``.
        """
        n = self.last()
        while n is not None:
            candidate = n.offset - n.offset % align
            hit = self.find(candidate)
            if hit is not None:
                return hit
            n = self.before(candidate)
        return None

    def __iter__(self) -> Iterator:
        """In offset order."""
        stack: list[RBNode] = []
        n = self.root
        while stack or n is not None:
            while n is not None:
                stack.append(n)
                n = n.rb_left
            n = stack.pop()
            yield n
            n = n.rb_right

    def first_postorder(self):
        return None if self.root is None else _left_deepest(self.root)

    @staticmethod
    def next_postorder(n: RBNode):
        parent = n.rb_parent
        if parent is not None and n is parent.rb_left and parent.rb_right is not None:
            return _left_deepest(parent.rb_right)
        return parent

    # --- insert ---------------------------------------------------------------

    def insert(self, node: RBNode) -> None:
        parent, link_left = None, False
        n = self.root
        while n is not None:
            parent = n
            link_left = node.offset < n.offset
            n = n.rb_left if link_left else n.rb_right
        node.rb_parent, node.rb_left, node.rb_right, node.rb_red = parent, None, None, True
        if parent is None:
            self.root = node
        elif link_left:
            parent.rb_left = node
        else:
            parent.rb_right = node
        self.count += 1
        self._insert_fixup(node)

    def _change_child(self, old: RBNode, new: RBNode | None, parent: RBNode | None) -> None:
        if parent is None:
            self.root = new
        elif parent.rb_left is old:
            parent.rb_left = new
        else:
            parent.rb_right = new

    def _rotate_parents(self, old: RBNode, new: RBNode, red: bool) -> None:
        """``new`` takes ``old``'s place and colour; ``old`` hangs below it."""
        parent = old.rb_parent
        new.rb_parent, new.rb_red = parent, old.rb_red
        old.rb_parent, old.rb_red = new, red
        self._change_child(old, new, parent)

    def _insert_fixup(self, node: RBNode) -> None:
        parent = node.rb_parent
        while True:
            if parent is None:
                node.rb_red = False
                return
            if not parent.rb_red:
                return
            gparent = parent.rb_parent
            assert gparent is not None
            if parent is not gparent.rb_right:  # parent is the left child
                uncle = gparent.rb_right
                if _is_red(uncle):
                    assert uncle is not None
                    uncle.rb_red = parent.rb_red = False
                    node = gparent
                    parent = node.rb_parent
                    node.rb_red = True
                    continue
                tmp = parent.rb_right
                if node is tmp:  # rotate left at parent
                    tmp = node.rb_left
                    parent.rb_right = tmp
                    node.rb_left = parent
                    if tmp is not None:
                        tmp.rb_parent, tmp.rb_red = parent, False
                    parent.rb_parent, parent.rb_red = node, True
                    parent = node
                    tmp = node.rb_right
                gparent.rb_left = tmp  # rotate right at gparent
                parent.rb_right = gparent
                if tmp is not None:
                    tmp.rb_parent, tmp.rb_red = gparent, False
                self._rotate_parents(gparent, parent, True)
                return
            uncle = gparent.rb_left
            if _is_red(uncle):
                assert uncle is not None
                uncle.rb_red = parent.rb_red = False
                node = gparent
                parent = node.rb_parent
                node.rb_red = True
                continue
            tmp = parent.rb_left
            if node is tmp:  # rotate right at parent
                tmp = node.rb_right
                parent.rb_left = tmp
                node.rb_right = parent
                if tmp is not None:
                    tmp.rb_parent, tmp.rb_red = parent, False
                parent.rb_parent, parent.rb_red = node, True
                parent = node
                tmp = node.rb_left
            gparent.rb_right = tmp  # rotate left at gparent
            parent.rb_left = gparent
            if tmp is not None:
                tmp.rb_parent, tmp.rb_red = gparent, False
            self._rotate_parents(gparent, parent, True)
            return

    # --- erase ----------------------------------------------------------------

    def remove(self, node: RBNode) -> None:
        child, left = node.rb_right, node.rb_left
        rebalance: RBNode | None
        if left is None:
            parent = node.rb_parent
            self._change_child(node, child, parent)
            if child is not None:
                child.rb_parent, child.rb_red = parent, node.rb_red
                rebalance = None
            else:
                rebalance = None if node.rb_red else parent
        elif child is None:
            parent = node.rb_parent
            left.rb_parent, left.rb_red = parent, node.rb_red
            self._change_child(node, left, parent)
            rebalance = None
        else:
            # Two children: the in-order successor takes the node's place.
            successor = child
            tmp = child.rb_left
            if tmp is None:
                parent = successor
                child2 = successor.rb_right
            else:
                while tmp is not None:
                    parent, successor, tmp = successor, tmp, tmp.rb_left
                child2 = successor.rb_right
                parent.rb_left = child2
                successor.rb_right = child
                child.rb_parent = successor
            successor.rb_left = left
            left.rb_parent = successor
            self._change_child(node, successor, node.rb_parent)
            was_red = successor.rb_red
            successor.rb_parent, successor.rb_red = node.rb_parent, node.rb_red
            if child2 is not None:
                child2.rb_parent, child2.rb_red = parent, False
                rebalance = None
            else:
                rebalance = None if was_red else parent
        self.count -= 1
        node.rb_parent = node.rb_left = node.rb_right = None
        if rebalance is not None:
            self._erase_fixup(rebalance)

    def _erase_fixup(self, parent: RBNode) -> None:
        node: RBNode | None = None
        while True:
            sibling = parent.rb_right
            if node is not sibling:  # node is the left child
                assert sibling is not None
                if sibling.rb_red:  # rotate left at parent
                    tmp1 = sibling.rb_left
                    assert tmp1 is not None
                    parent.rb_right = tmp1
                    sibling.rb_left = parent
                    tmp1.rb_parent, tmp1.rb_red = parent, False
                    self._rotate_parents(parent, sibling, True)
                    sibling = tmp1
                tmp1 = sibling.rb_right
                if not _is_red(tmp1):
                    tmp2 = sibling.rb_left
                    if not _is_red(tmp2):
                        sibling.rb_red = True
                        if parent.rb_red:
                            parent.rb_red = False
                        else:
                            node, parent = parent, parent.rb_parent  # type: ignore[assignment]
                            if parent is not None:
                                continue
                        return
                    assert tmp2 is not None  # rotate right at sibling
                    tmp1 = tmp2.rb_right
                    sibling.rb_left = tmp1
                    tmp2.rb_right = sibling
                    parent.rb_right = tmp2
                    if tmp1 is not None:
                        tmp1.rb_parent, tmp1.rb_red = sibling, False
                    tmp1, sibling = sibling, tmp2
                assert tmp1 is not None  # rotate left at parent
                tmp2 = sibling.rb_left
                parent.rb_right = tmp2
                sibling.rb_left = parent
                tmp1.rb_parent, tmp1.rb_red = sibling, False
                if tmp2 is not None:
                    tmp2.rb_parent = parent
                self._rotate_parents(parent, sibling, False)
                return
            sibling = parent.rb_left
            assert sibling is not None
            if sibling.rb_red:  # rotate right at parent
                tmp1 = sibling.rb_right
                assert tmp1 is not None
                parent.rb_left = tmp1
                sibling.rb_right = parent
                tmp1.rb_parent, tmp1.rb_red = parent, False
                self._rotate_parents(parent, sibling, True)
                sibling = tmp1
            tmp1 = sibling.rb_left
            if not _is_red(tmp1):
                tmp2 = sibling.rb_right
                if not _is_red(tmp2):
                    sibling.rb_red = True
                    if parent.rb_red:
                        parent.rb_red = False
                    else:
                        node, parent = parent, parent.rb_parent  # type: ignore[assignment]
                        if parent is not None:
                            continue
                    return
                assert tmp2 is not None  # rotate left at sibling
                tmp1 = tmp2.rb_left
                sibling.rb_right = tmp1
                tmp2.rb_left = sibling
                parent.rb_left = tmp2
                if tmp1 is not None:
                    tmp1.rb_parent, tmp1.rb_red = sibling, False
                tmp1, sibling = sibling, tmp2
            assert tmp1 is not None  # rotate right at parent
            tmp2 = sibling.rb_right
            parent.rb_left = tmp2
            sibling.rb_right = parent
            tmp1.rb_parent, tmp1.rb_red = sibling, False
            if tmp2 is not None:
                tmp2.rb_parent = parent
            self._rotate_parents(parent, sibling, False)
            return
