"""pytest wiring for the harness: options, backends and spec cases (harness.pytest_plugin)."""

pytest_plugins = ["harness.pytest_plugin", "pytester"]
