"""The CLI imports only the verb it runs, and still declares and documents every verb: each
verb's --help is what the parser with every verb's options says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import cli


def _help(parser, *path: str) -> str:
    p = parser
    for name in path:
        sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
        p = sub.choices[name]
    return p.format_help()


def test_top_level_help_lists_every_verb():
    text = _help(cli.build_parser(["--help"]))
    for verb, _, line in cli.VERBS:
        assert verb in text and line.split()[0] in text


@pytest.mark.parametrize("verb", [v for v, _, _ in cli.VERBS])
def test_each_verb_says_what_the_full_parser_says(verb):
    assert _help(cli.build_parser([verb]), verb) == _help(cli.build_parser(), verb)
    assert _help(cli.build_parser(["-q", verb, "--x"]), verb) == _help(cli.build_parser(), verb)


def test_a_verb_does_not_import_the_others():
    code = ("import sys; from harness import cli; cli.build_parser(['check']); "
            "print(sorted(m for m in sys.modules if m.startswith('harness.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "harness.commands.check" in out
    assert "harness.commands.mutate" not in out and "harness.commands.run" not in out
    assert "jsonschema" not in subprocess.run(
        [sys.executable, "-c", "import sys; from harness import cli; "
         "cli.build_parser(['run']); print(list(sys.modules))"],
        capture_output=True, text=True, check=True).stdout
