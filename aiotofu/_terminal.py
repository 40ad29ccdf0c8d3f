"""What the command line writes to a terminal: text made safe, cut to fit, and a status line.

Text from the server is made safe to print on a terminal: the characters that act, escaped.

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

:func:`cell_width` and :func:`fit` measure and cut text in terminal cells (a CJK character or an
emoji takes two, a combining mark or a joiner none), marking cut text with an ellipsis, so that a
table row never wraps; :class:`StatusLine` keeps one line (progress, a watch's state) at the
bottom of stderr, cleared before anything else is printed and redrawn after, so that rows,
warnings and the status never share a line.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Iterator
from typing import TextIO

__all__ = ["ELLIPSIS", "StatusLine", "cell_width", "fit", "json_line", "shown", "terminal_columns"]

ELLIPSIS = "\u2026"
# Back to the start of the line and erase it (EL 0): what every terminal of the last decades
# understands; a bare "\r" only moves the cursor, and a shorter text left the longer one's tail.
_CLEAR = "\r\x1b[K"

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


def _char_width(char: str) -> int:
    """The cells one character takes: 0 for combining marks and format characters (a ZWJ,
    a variation selector), 2 for East Asian wide and full-width ones (CJK, most emoji)."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """How many terminal cells ``text`` takes (text already ``shown``: no control characters)."""
    if text.isascii():
        return len(text)
    return sum(map(_char_width, text))


def fit(text: str, width: int, *, pad: bool = False) -> str:
    """``text`` in at most ``width`` cells: cut text ends with an ellipsis, so that a reader
    knows there is more (``--format jsonl`` or ``csv`` has it whole); ``pad`` fills the rest with
    spaces, for a column."""
    used = cell_width(text)
    if used > width:
        kept: list[str] = []
        used = 0
        for char in text:
            cells = _char_width(char)
            if used + cells > width - 1:
                break
            kept.append(char)
            used += cells
        text = "".join(kept) + ELLIPSIS if width > 0 else ""
        used += 1 if width > 0 else 0
    return text + " " * (width - used) if pad else text


def terminal_columns(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to (``COLUMNS`` overrides it, as for every
    command-line tool); None when it is not a terminal."""
    try:
        if not stream.isatty():
            return None
        fileno = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    override = os.environ.get("COLUMNS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    try:
        return os.get_terminal_size(fileno).columns or None
    except OSError:
        return None


class StatusLine:
    """One line of state at the bottom of a terminal (``out``, stderr), drawn in place.

    ``show(text)`` draws it (cut to the terminal's width, so that it never wraps and can be
    erased); ``clear()`` erases it; everything else printed to the same terminal goes inside
    ``with status.above():``, which erases it first and draws it again after, so the status
    never shares a line with a row or a warning. ``close(final)`` erases it and leaves
    ``final`` (if any) as an ordinary line.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._text = ""
        self._drawn = False

    @property
    def drawn(self) -> bool:
        """Whether the line is on the screen now."""
        return self._drawn

    def show(self, text: str) -> None:
        """Draw ``text`` as the status (escaped, and cut to fit one line)."""
        self._text = shown(text)
        self._draw()

    def _draw(self) -> None:
        if not self._text:
            return
        columns = terminal_columns(self._out) or 80
        # One cell short of the width: a line that fills it wraps on some terminals.
        self._out.write(_CLEAR + fit(self._text, columns - 1))
        self._out.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the status from the screen (``show`` or ``above`` draw it again)."""
        if self._drawn:
            self._out.write(_CLEAR)
            self._out.flush()
            self._drawn = False

    @contextlib.contextmanager
    def above(self) -> Iterator[None]:
        """Print something else: the status is erased before and drawn again after."""
        self.clear()
        try:
            yield
        finally:
            self._draw()

    def close(self, final: str | None = None) -> None:
        """Erase the status for good, leaving ``final`` (if given) as a line of its own."""
        self.clear()
        self._text = ""
        if final:
            self._out.write(shown(final) + "\n")
            self._out.flush()
