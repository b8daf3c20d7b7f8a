"""The results model: the one envelope every verb's ``--json`` writes.

``{"schema": "buddy-harness/results", "version": N, "verb": VERB, ...}``: the verb's own keys
follow the three that name the document, unchanged from what each verb wrote before the
envelope (tools read them).  ``schema.json`` beside this module describes every verb's
document; :func:`problems` checks one against it.  A document is written atomically, through
:func:`harness.fileio.write_output`.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from harness import fileio

SCHEMA = "buddy-harness/results"
VERSION = 1  # raised when a key changes meaning or goes; a new key keeps it
VERBS = ("run", "diff", "kunit", "cover", "cover-pairs", "docs", "mutate")


def envelope(verb: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` under the three keys that say what the document is."""
    if verb not in VERBS:
        raise ValueError(f"no results document for the verb {verb!r}")
    clash = {"schema", "version", "verb"} & set(payload)
    if clash:
        raise ValueError(f"a results payload may not set {', '.join(sorted(clash))}")
    return {"schema": SCHEMA, "version": VERSION, "verb": verb, **payload}


def dumps(verb: str, payload: dict[str, Any], *, indent: int = 2) -> str:
    return json.dumps(envelope(verb, payload), indent=indent) + "\n"


def write(path: str | os.PathLike, verb: str, payload: dict[str, Any], *,
          indent: int = 2) -> None:
    """Write the verb's document to ``path`` all at once (OutputError if it cannot be)."""
    fileio.write_output(path, dumps(verb, payload, indent=indent))


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of every results document (``harness/results/schema.json``)."""
    from importlib import resources  # only where results are checked against the schema

    return json.loads(resources.files(__package__).joinpath("schema.json").read_text("utf-8"))


def problems(doc: Any) -> list[str]:
    """What makes ``doc`` not a results document: one line each, with where in it."""
    import jsonschema

    errors = jsonschema.Draft202012Validator(schema()).iter_errors(doc)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                  for e in errors)
