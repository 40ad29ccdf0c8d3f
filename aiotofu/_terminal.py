"""Text from the server made safe to print on a terminal: the characters that act, escaped.

A record's fields and a server's error messages are anyone's text. Printed raw, an escape
sequence clears the screen, retitles the window or recolours what follows; a carriage return or a
newline forges a row; C1 controls (CSI is ``\\x9b``) act as their ESC forms do on many
terminals; a bidirectional override reorders what a row shows. So the command line escapes:

- C0 (``\\x00``-``\\x1f``: ESC, BEL, CR, LF, TAB...), DEL and C1 (``\\x80``-``\\x9f``);
- the Unicode line and paragraph separators (U+2028, U+2029), which line splitters break on;
- the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069);
- lone surrogates, which no terminal can be sent.

Everything else, accents, CJK, emoji and their joiners included, is kept as it is. That is
narrower than ``str.isprintable()``, which would also escape the zero-width joiner of an emoji
sequence and the ideographic space of Japanese text.

:func:`shown` writes them as ``repr`` would, without the quotes (``\\x1b``, ``\\n``, ``\\u202e``):
for a table and for lines on stderr, meant for eyes. Backslashes already in the text are left as
they are (``C:\\logs`` stays readable): the exact text is what jsonl and csv are for.
:func:`json_line` writes them as JSON escapes (``\\u001b``) in a line of JSON, which is then the
same JSON, losslessly.
"""

from __future__ import annotations

import re

__all__ = ["json_line", "shown"]

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _as_repr(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def _as_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def shown(text: str) -> str:
    """``text`` with every character that would act on a terminal escaped as ``repr`` does."""
    # The usual text has none: one scan, no copy.
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_as_repr, text)


def json_line(text: str) -> str:
    """A line of JSON (``json.dumps(..., ensure_ascii=False)``) with the characters that act on
    a terminal, which JSON allows raw in strings, written as ``\\uXXXX`` escapes instead.

    Outside its strings such a line is ASCII, so every character replaced is inside a string,
    where the escape means the same character: the JSON is unchanged.
    """
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_as_json, text)
