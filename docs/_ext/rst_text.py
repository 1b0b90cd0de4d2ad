"""Turning text from the code into reStructuredText that means only what it says.

The generated pages are written as reStructuredText and parsed like any page, so a
value such as ``"/api/"`` or a summary that mentions ``<provider>`` must not be read
as markup.
"""

from __future__ import annotations

import re

# What reStructuredText could take for inline markup, a reference or a substitution.
_MARKUP = re.compile(r"([\\`*_|\[\]<>:])")


def plain(text: str) -> str:
    """``text`` as it reads, every character that could start markup escaped."""
    return _MARKUP.sub(r"\\\1", " ".join(text.split()))


def literal(text: str) -> str:
    """``text`` as inline code; falls back to escaped text where a literal cannot hold it."""
    text = " ".join(text.split())
    if not text or "``" in text or text.endswith("`"):
        return plain(text)
    return f"``{text}``"


def indent(lines: list[str], by: int = 3) -> list[str]:
    """``lines`` indented as the content of a directive or a list item."""
    return [" " * by + line if line else "" for line in lines]
