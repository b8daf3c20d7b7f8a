"""Reports rendered from the results model with jinja2 (``templates/`` beside this module).

An HTML template escapes every value it prints (autoescape): text that came from a case, a
tree or a mutant cannot become markup.  A Markdown template prints values through the ``md``
filter (a table cell's ``|`` and a line break escaped) where a line of its own would break.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2


def md_cell(text: object) -> str:
    """Text that stays inside one Markdown table cell or list line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_text(text: object) -> str:
    """A cell of printed text: :func:`md_cell`, and ``&`` and ``<`` as entities, so what a
    command printed (``<= 1.5 s``) reads as text, never as markup."""
    return md_cell(str(text).replace("&", "&amp;").replace("<", "&lt;"))


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.results", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_cell
    env.filters["md_text"] = md_text
    return env


def render(template: str, **context: Any) -> str:
    """``templates/<template>`` filled in with ``context``."""
    return _env().get_template(template).render(**context)
