"""CSV cells and download names every export shares (plugin/web/spreadsheet.py)."""

from __future__ import annotations

import csv
import io

import pytest

from plugin.web.spreadsheet import attachment_name, spreadsheet_cell


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
                                  "\0x", "|calc", " =1+1", "  @x", "=HYPERLINK(\"x\")"])
def test_a_cell_a_spreadsheet_would_run_is_read_as_text(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Mug", "", "a=b", "1-2", "e-mail", "'=already", "€ 5"])
def test_plain_text_is_left_alone(text: str) -> None:
    assert spreadsheet_cell(text) == text


def test_numbers_stay_numbers_and_none_is_empty() -> None:
    assert [spreadsheet_cell(v) for v in (-2.5, 3, 0, None)] == [-2.5, 3, 0, ""]


def test_a_guarded_row_round_trips_through_csv() -> None:
    row = ["=cmd|' /C calc'!A0", 'say "hi", then\r\nleave', -1]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([spreadsheet_cell(v) for v in row])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        "'=cmd|' /C calc'!A0", 'say "hi", then\r\nleave', "-1"]


@pytest.mark.parametrize(("parts", "name"), [
    (("shopreco", "demo", "at_risk"), "shopreco-demo-at_risk.csv"),
    (('x"; filename="evil.exe', "lost"), "x_filename_evil.exe-lost.csv"),
    (("../../etc/passwd",), "etc_passwd.csv"),
    (("",), "_.csv"),
])
def test_attachment_names_keep_a_safe_alphabet(parts: tuple[str, ...], name: str) -> None:
    assert attachment_name(*parts) == name


def test_attachment_names_are_bounded() -> None:
    assert len(attachment_name("a" * 500, "b")) == 124
