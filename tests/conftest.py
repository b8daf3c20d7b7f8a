"""Settings for the harness's own tests."""

import os

from hypothesis import HealthCheck, settings

# "ci": derandomized so a CI run is reproducible; "dev": hypothesis defaults.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
