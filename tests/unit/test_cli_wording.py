"""The command line's generic commands speak of the resource at hand: ``aiotofu runs watch``
says "runs", never "batches" (a word left from when batches were the only resource)."""

from __future__ import annotations

import pytest

from aiotofu.cli import main
from aiotofu.endpoints import ENDPOINTS

WATCHABLE = [e.name for e in ENDPOINTS if e.time_field is not None and e.time_bounds is not None]


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines as it likes


@pytest.mark.parametrize("noun", [e.name for e in ENDPOINTS if e.name != "batches"])
def test_list_help_names_its_own_resource(noun: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, noun, "list")
    assert f"stop after N {noun}" in text
    assert "batches" not in text.split()  # a filter may say "batch number"; no sentence "batches"


@pytest.mark.parametrize("noun", [name for name in WATCHABLE if name != "batches"])
def test_watch_help_names_its_own_resource(noun: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, noun, "watch")
    assert f"also yield {noun} committed late" in text
    assert "batches" not in text.split()  # a filter may say "batch number"; no sentence "batches"


def test_some_resource_other_than_batches_can_be_watched() -> None:
    assert set(WATCHABLE) - {"batches"}
