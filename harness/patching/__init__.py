"""Patches under review as kernel trees.

``buddy-harness kernel patch NAME --onto VERSION FILE`` reads a patch (a git
patch, an mbox, or a patch quoted in a review reply: :mod:`.parse`), applies
it onto a copy of a fetched tree with the project's own applier
(:mod:`.apply`) and caches the result as tree NAME (:mod:`.trees`), so
``native@NAME`` (and any other ``FAMILY@NAME``) designates it.
"""
