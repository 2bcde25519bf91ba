"""Cells of files people open in a spreadsheet (CSV and XLSX exports, error reports)."""

from __future__ import annotations

from typing import Any

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets
# (OWASP "CSV injection"): `=HYPERLINK(...)` in a person's name must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula; non-text stays as it is."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return f"'{value}"
    return value
