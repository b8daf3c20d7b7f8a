"""The registry's API for adding backends: a name registered opens by that name wherever a
name enters, is gone once undone, and a name already taken is refused."""

from __future__ import annotations

import argparse

import pytest

from harness import options
from harness.backends import registry
from harness.backends.base import BackendUnavailable
from harness.backends.reference import ReferenceBackend


class Opened(ReferenceBackend):
    def __init__(self, ref, opts: registry.OpenOptions) -> None:
        super().__init__()
        self.ref, self.opts = ref, opts


def test_a_registered_name_resolves_until_it_is_undone():
    undo = registry.register("probe", Opened)
    try:
        assert registry.name_problem("probe") is None
        assert options.backend("probe") == "probe"  # what the CLI's --backend accepts
        b = registry.resolve("probe", kernel_src="/src", sanitize=True, timeout=3.0)
        assert isinstance(b, Opened)
        assert (b.ref, b.ref.family, b.ref.what) == ("probe", "probe", None)
        assert (b.opts.kernel_src, b.opts.sanitize, b.opts.timeout) == ("/src", True, 3.0)
        with pytest.raises(BackendUnavailable, match="unknown backend 'probe@1'"):
            registry.resolve("probe@1")  # a plain name takes no '@'
    finally:
        undo()
    assert "unknown backend 'probe'" in registry.name_problem("probe")
    with pytest.raises(BackendUnavailable, match="unknown backend 'probe'"):
        registry.resolve("probe")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown backend"):
        options.backend("probe")
    undo()  # undoing twice does no harm
    assert "probe" not in registry.PLAIN


def test_a_registered_family_takes_what_follows_the_at():
    with registry.registered({"fam": Opened}, family=True):
        b = registry.resolve("fam@v1")
        assert (b.ref.family, b.ref.what) == ("fam", "v1")
        assert registry.resolve("fam").ref.what is None
        assert "names no version or path after '@'" in registry.name_problem("fam@")
    assert "unknown backend 'fam@v1'" in registry.name_problem("fam@v1")


@pytest.mark.parametrize("taken", ["reference", "native", "rust"])
def test_a_name_already_taken_is_refused_and_keeps_its_backend(taken):
    before = dict(registry.PLAIN), dict(registry.FAMILIES)
    for family in (False, True):
        with pytest.raises(ValueError, match=f"backend name '{taken}' is taken"):
            registry.register(taken, Opened, family=family)
    assert (dict(registry.PLAIN), dict(registry.FAMILIES)) == before
    assert not isinstance(registry.resolve("reference"), Opened)


def test_registering_a_name_twice_is_refused_and_the_first_stays():
    with registry.registered({"probe": Opened}):
        with pytest.raises(ValueError, match="'probe' is taken .a plain backend.; unregister"):
            registry.register("probe", ReferenceBackend)
        assert isinstance(registry.resolve("probe"), Opened)


def test_a_refused_name_among_several_leaves_none_registered():
    with pytest.raises(ValueError, match="'reference' is taken"):
        with registry.registered({"probe-a": Opened, "reference": Opened}):
            pytest.fail("the block runs only when every name was registered")
    assert registry.name_problem("probe-a") is not None


@pytest.mark.parametrize("bad", ["", "x@1", "two words", "tab\t"])
def test_a_name_that_could_not_be_written_as_a_backend_is_refused(bad):
    with pytest.raises(ValueError, match="give a word with no '@' and no spaces"):
        registry.register(bad, Opened)
