"""The kernel's own KUnit suite for the allocator, run in user space.

The tree's test file is compiled unmodified against the harness's KUnit stand-in
(``csrc/``: headers and a runtime of its own) and linked to the same user-space
build of the tree's allocator that ``native@`` runs; each ``KUNIT_CASE`` becomes an
item ``kunit.SUITE.CASE`` of the native backend's suites (:mod:`harness.suites`).
"""
