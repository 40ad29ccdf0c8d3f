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


# -- fitting a terminal (issue 25, item 2) ---------------------------------------------------


def test_fit_marks_cut_text_and_counts_wide_characters_as_two_cells() -> None:
    from aiotofu._terminal import ELLIPSIS, cell_width, fit

    assert fit("PCB-V1.2", 8) == "PCB-V1.2"
    assert fit("Functional test", 8) == "Functiona"[:7] + ELLIPSIS
    assert fit("北京北京", 5) == "北京" + ELLIPSIS  # 2 + 2 + 1 cells
    assert fit("ab", 4, pad=True) == "ab  "
    assert cell_width(fit("Crème-北京-🚀 and more", 10, pad=True)) == 10
    assert cell_width("e\u0301") == 1  # a combining accent takes no cell


@given(st.text(), st.integers(min_value=1, max_value=40))
def test_fit_never_exceeds_its_width(text: str, width: int) -> None:
    from aiotofu._terminal import cell_width, fit

    safe = shown(text)
    assert cell_width(fit(safe, width)) <= width
    assert cell_width(fit(safe, width, pad=True)) == width or cell_width(safe) == 0 == width


def test_the_table_fits_the_terminal_the_widest_columns_giving_way_first() -> None:
    from aiotofu.cli import _widths
    from aiotofu.endpoints import ENDPOINTS

    for endpoint in ENDPOINTS:
        columns = endpoint.columns
        assert _widths(columns, None)[-1] is None  # not a terminal: the last column whole
        for total in (80, 120, 160):
            widths = _widths(columns, total)
            assert sum(w or 0 for w in widths) + len(columns) - 1 <= total, endpoint.name
            for width, column in zip(widths, columns, strict=True):
                assert width is not None
                assert width >= min(5, column.width or 5)
        wide = _widths(columns, 400)
        assert wide[:-1] == [c.width for c in columns[:-1]]  # room enough: widths as declared


def test_the_status_line_is_erased_before_other_output_and_drawn_again_after() -> None:
    import io

    from aiotofu._terminal import StatusLine

    out = io.StringIO()
    status = StatusLine(out)
    status.show("12 runs, 40/s")
    with status.above():
        out.write("aiotofu: retrying GET /v2/runs\n")
    status.close("12 runs, 40/s")
    assert out.getvalue() == (
        "\r\x1b[K12 runs, 40/s"
        "\r\x1b[Kaiotofu: retrying GET /v2/runs\n"
        "\r\x1b[K12 runs, 40/s"
        "\r\x1b[K12 runs, 40/s\n"
    )
