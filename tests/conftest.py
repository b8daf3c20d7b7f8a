"""Settings for the harness's own tests."""

import os

import pytest
from hypothesis import HealthCheck, settings

from harness.trees.kernels import NO_FETCH

# "ci": derandomized so a CI run is reproducible; "dev": hypothesis defaults.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "treeless: needs no kernel tree; the py env runs it, so the envs with trees "
        "leave it out (-m 'not treeless')")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Where no tree can be fetched (the py env), a treeless test that skips is a wrong
    marker: it would then run nowhere."""
    rep = yield
    if (rep.skipped and not hasattr(rep, "wasxfail") and os.environ.get(NO_FETCH)
            and item.get_closest_marker("treeless")):
        why = rep.longrepr[-1] if isinstance(rep.longrepr, tuple) else rep.longrepr
        rep.outcome = "failed"
        rep.longrepr = (f"{item.nodeid} is marked treeless but skipped where no kernel tree "
                        f"is ({why}): it needs a tree, so take the marker off")
    return rep
