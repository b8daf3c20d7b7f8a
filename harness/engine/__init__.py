"""The one semantic source: runs a case on a backend and judges the trace."""

from harness.engine.run import run_case  # noqa: F401
from harness.engine.trace import Outcome, StepTrace, Trace  # noqa: F401
