"""``specs/doc-waivers.yaml``: documented items left out of the coverage count, with why.

Kept true like the expectation files: a waiver naming an item the reference
tree does not document, or one a case now cites, is an error.

A key ``ITEM | SENTENCE`` waives one sentence of an item instead: a sentence
that states nothing a case can check (a summary the description repeats, a
use case, what a parameter or field is for), left out of the count of
normative sentences.  It is stale when the item does not have the sentence,
or when a case quotes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.docs.coverage import Coverage
from harness.docs.text import normalize
from harness.spec import yamlpos
from harness.spec.loader import WAIVERS_FILE
from harness.spec.position import Pos, SpecError
from harness.spec.semantic import did_you_mean

FILE = WAIVERS_FILE


SEPARATOR = " | "


@dataclass
class Waivers:
    reasons: dict[str, str] = field(default_factory=dict)
    where: dict[str, Pos] = field(default_factory=dict)
    # (item id, sentence text) -> reason: sentences that are not normative
    sentences: dict[tuple[str, str], str] = field(default_factory=dict)
    sentence_where: dict[tuple[str, str], Pos] = field(default_factory=dict)

    def stale(self, cov: Coverage) -> list[str]:
        """Each waiver that is no longer true of ``cov``'s tree, as a FILE:LINE:COL line."""
        ids = [i.id for i in cov.docs.items]
        out = self._stale_sentences(cov)
        for item, pos in self.where.items():
            if item not in ids:
                hint = did_you_mean(item, ids)
                out.append(f"{pos}: waiver for '{item}', which {cov.docs.version} does not "
                           f"document ({hint or 'remove the waiver'})")
            elif cov.cited[item]:
                cases = ", ".join(sorted({c.case.id for c in cov.cited[item]}))
                out.append(f"{pos}: waiver for '{item}', which {cases} now cite "
                           "(remove the waiver)")
        return out

    def _stale_sentences(self, cov: Coverage) -> list[str]:
        by_id = cov.docs.by_id()
        out = []
        for (item, text), pos in self.sentence_where.items():
            it = by_id.get(item)
            if it is None:
                out.append(f"{pos}: sentence waiver for '{item}', which {cov.docs.version} "
                           "does not document (remove the waiver)")
                continue
            sent = next((s for _, s in it.sentences() if normalize(s.text) == text), None)
            if sent is None:
                out.append(f"{pos}: '{item}' has no sentence '{text}' in "
                           f"{cov.docs.version} (copy it from `buddy-harness docs`, or remove "
                           "the waiver)")
                continue
            quoting = sorted({c.case.id for c in cov.cited[item] if sent in c.sentences})
            if quoting:
                out.append(f"{pos}: sentence waiver for '{text}' of '{item}', which "
                           f"{', '.join(quoting)} now quote (remove the waiver)")
        return out

    def sentence_waived(self, item: str, text: str) -> bool:
        return (item, normalize(text)) in self.sentences


def load(specs_roots: list[Path]) -> Waivers:
    w = Waivers()
    for root in specs_roots:
        path = Path(root) / FILE
        if path.is_file():
            _load_file(path, w)
    return w


def _load_file(path: Path, w: Waivers) -> None:
    def pos(node: yaml.Node) -> Pos:
        return Pos(str(path), node.start_mark.line + 1, node.start_mark.column + 1)

    try:
        node = yaml.compose(yamlpos.read(path).decode("utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = Pos(str(path), mark.line + 1, mark.column + 1) if mark else Pos(str(path), 1, 1)
        raise SpecError(where, f"invalid YAML: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError as e:
        raise SpecError(Pos(str(path), 1, 1), f"not UTF-8 text ({e.reason})") from None
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        raise SpecError(pos(node), "a waiver file maps documented item ids to reasons",
                        "write `item id: why no case covers it`")
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
            raise SpecError(pos(key), "expected a documented item id as key")
        if not isinstance(value, yaml.ScalarNode) or not value.value.strip():
            raise SpecError(pos(value), f"'{key.value}' needs a one-line reason")
        if SEPARATOR in key.value:
            item, _, text = key.value.partition(SEPARATOR)
            k = (item.strip(), normalize(text))
            if k in w.sentences:
                raise SpecError(pos(key), f"that sentence of '{k[0]}' is waived twice "
                                f"(first at {w.sentence_where[k]})")
            w.sentences[k] = value.value.strip()
            w.sentence_where[k] = pos(key)
            continue
        if key.value in w.reasons:
            raise SpecError(pos(key), f"'{key.value}' is waived twice "
                            f"(first at {w.where[key.value]})")
        w.reasons[key.value] = value.value.strip()
        w.where[key.value] = pos(key)
