"""``aiotofu._terminal``: what acts on a terminal is escaped, everything else is kept."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from aiotofu._terminal import json_line, shown

ACTING = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def test_shown_escapes_as_repr_does_without_the_quotes() -> None:
    assert shown("a\x1b[2Jb\r\n\t\x07\x00\x7f\x9b\x85") == r"a\x1b[2Jb\r\n\t\x07\x00\x7f\x9b\x85"
    assert shown("\u202egnp.exe\u2028\u2066") == r"\u202egnp.exe\u2028\u2066"
    assert shown("\ud800") == r"\ud800"


def test_shown_keeps_ordinary_unicode_and_backslashes() -> None:
    """Accents, CJK, emoji with their joiners and variation selectors, the ideographic and
    no-break spaces: all printable on a terminal, all kept. Backslashes too (the table is for
    eyes; jsonl and csv carry the exact text)."""
    kind = "Crème brûlée 北京\u3000テスト 🚀 👩\u200d🔬 ❤\ufe0f \xa0 C:\\logs"
    assert shown(kind) == kind


@given(st.text())
def test_shown_leaves_nothing_that_acts_and_changes_nothing_else(text: str) -> None:
    escaped = shown(text)
    assert ACTING.search(escaped) is None
    if ACTING.search(text) is None:
        assert escaped is text


@given(st.recursive(st.text() | st.none() | st.integers(), lambda inner: st.lists(inner)))
def test_json_line_is_the_same_json_with_nothing_that_acts(value: object) -> None:
    line = json_line(json.dumps(value, ensure_ascii=False))
    assert ACTING.search(line) is None
    assert json.loads(line) == value
