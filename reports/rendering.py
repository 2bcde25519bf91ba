"""A built report as people read it: HTML (admin page, email), PDF, CSV and XLSX.

Charts are SVG drawn on the server: the PDF renderer runs no JavaScript. Every exported
cell that a spreadsheet would run as a formula is written as text.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from openpyxl import Workbook

from core.spreadsheets import spreadsheet_safe
from reports.builtin import Report, Table


def spreadsheet_cell(value: Any) -> Any:
    """A value a spreadsheet shows as data (numbers stay numbers, text never a formula)."""
    if value is None:
        return ""
    return spreadsheet_safe(value if isinstance(value, (int, float)) else str(value))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    width: float  # share of the largest value, 0..100
    y: int


def table_bars(table: Table, *, limit: int = 10) -> list[Bar]:
    """A horizontal bar per row when the table's second column is a number."""
    rows = [row for row in table.rows if len(row) > 1 and isinstance(row[1], (int, float))]
    if not rows:
        return []
    rows = rows[:limit]
    top = max(float(row[1]) for row in rows) or 1.0
    return [
        Bar(str(row[0]), float(row[1]), round(100 * float(row[1]) / top, 1), 22 * n)
        for n, row in enumerate(rows)
    ]


def _lines(report: Report) -> list[list[Any]]:
    lines: list[list[Any]] = [
        [str(report.title)],
        [
            f"{report.start} – {report.end}",
            f"before: {report.previous_start} – {report.previous_end}",
        ],
        [],
    ]
    lines += [[str(figure.label), figure.value, figure.previous] for figure in report.figures]
    for table in report.tables:
        lines += [[], [str(table.title)], [str(column) for column in table.columns]]
        lines += [list(row) for row in table.rows]
    return lines


def report_csv(report: Report) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([spreadsheet_cell(value) for value in line] for line in _lines(report))
    return buffer.getvalue().encode("utf-8")


def report_xlsx(report: Report) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(report.code)[:31])
    for line in _lines(report):
        sheet.append([spreadsheet_cell(value) for value in line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def report_context(report: Report) -> dict[str, Any]:
    return {
        "report": report,
        "tables": [
            {"table": table, "bars": bars, "height": 22 * len(bars) + 4}
            for table in report.tables
            for bars in [table_bars(table)]
        ],
    }


def report_html(report: Report) -> str:
    """A whole HTML document (the email's body and the PDF's source)."""
    return render_to_string("reports/report_document.html", report_context(report))


def report_pdf(report: Report) -> bytes:
    from weasyprint import HTML  # imported when a PDF is made: it loads Pango

    return HTML(string=report_html(report)).write_pdf()
