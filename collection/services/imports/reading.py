"""Reading uploaded CSV and XLSX files as a header and numbered rows of text.

A file is read many times (preview, start, each slice of the run), always the same way:
the reading options decided when the job starts (format, encoding, delimiter) are kept on
the job, so every pass sees the same rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext

from collection.errors import ImportJobFailed

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_CHUNK = 1 << 20
_SAMPLE = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: "csv" or "xlsx", and for CSV its encoding and delimiter."""

    format: str
    encoding: str = ""
    delimiter: str = ""

    def as_dict(self) -> dict[str, str]:
        if self.format == "xlsx":
            return {"format": "xlsx"}
        return {"format": "csv", "encoding": self.encoding, "delimiter": self.delimiter}


Resume = tuple[int, int]  # where the next row starts: byte offset, number of the row before


@dataclass
class Table:
    """A header and the non-blank rows after it, each with its row number in the file.

    `resume()`, right after a row was taken from `rows`: where the next one starts, for
    `open_table(..., resume=...)` to read on from there; None where that is not tracked.
    """

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    resume: Callable[[], Resume | None] = lambda: None


def max_bytes() -> int:
    return int(getattr(settings, "CDP_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def check_size(size: int) -> None:
    """A file over the size limit (setting CDP_IMPORT_MAX_BYTES) is refused as a whole."""
    limit = max_bytes()
    if size > limit:
        raise ImportJobFailed(
            gettext(
                "The file is %(size)s, over the %(size2)s limit for imports; "
                "split it into smaller files."
            )
            % {"size": _size(size), "size2": _size(limit)}
        )


def _is_blank(values: list[str]) -> bool:
    return not any(value.strip() for value in values)


def _header(values: list[str]) -> list[str]:
    """Trimmed names; an empty name becomes "Column N" and a repeated one gets " (2)"."""
    header: list[str] = []
    for position, raw in enumerate(values, start=1):
        name = raw.replace("\ufeff", "").strip() or f"Column {position}"
        base, count = name, 2
        while name in header:
            name = f"{base} ({count})"
            count += 1
        header.append(name)
    return header


def _first_row(numbered: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """The header from the first non-blank row, and that row's number."""
    for number, values in numbered:
        if not _is_blank(values):
            return number, _header(values)
    raise ImportJobFailed(gettext("The file is empty: no header row was found."))


def _numbered(rows: Iterator[list[str]]) -> Table:
    """Skip blank lines, take the first non-blank row as the header, number the rest."""
    numbered = enumerate(rows, start=1)
    _, header = _first_row(numbered)
    return Table(header=header, rows=_non_blank(numbered))


def _non_blank(numbered: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    for number, row in numbered:
        if not _is_blank(row):
            yield number, row


# --- CSV ---------------------------------------------------------------------------------


def _decodes(binary: IO[bytes], encoding: str) -> bool:
    """Whether the whole file decodes, streamed so a large file is never held in memory."""
    binary.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        for chunk in iter(lambda: binary.read(_CHUNK), b""):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        binary.seek(0)
    return True


def detect_encoding(binary: IO[bytes]) -> str:
    """UTF-8 with a byte-order mark, else UTF-8, else Windows-1252, checked over the whole file."""
    head = binary.read(3)
    binary.seek(0)
    candidates = ("utf-8-sig",) if head.startswith(codecs.BOM_UTF8) else ("utf-8", "cp1252")
    for encoding in candidates:
        if _decodes(binary, encoding):
            return encoding
    raise ImportJobFailed(
        gettext(
            "The file is not readable text in UTF-8 or Windows-1252 (cp1252); in the spreadsheet, "
            'use "Save as" > "CSV UTF-8" and upload it again.'
        )
    )


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    try:
        return [row for row in csv.reader(lines[:50], delimiter=delimiter) if not _is_blank(row)]
    except csv.Error:
        return []


def detect_delimiter(sample: str) -> str:
    """The candidate that splits the header into most columns, rows agreeing; comma if none."""
    best, best_score = ",", (1, 0)
    for delimiter in DELIMITERS:
        records = _sample_records(sample, delimiter)
        if not records:
            continue
        width = len(records[0])
        score = (width, sum(1 for row in records[1:] if len(row) == width))
        if width > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


class _Lines:
    """A CSV file's lines as text, counting bytes: `offset` is where the next line starts.

    csv.reader takes lines one at a time, only as many as the record it returns spans, so
    after each record `offset` is where the next record starts. Lines end at LF (a CRLF
    line keeps its CR, which csv.reader reads as part of the line ending); files whose
    lines end at a bare CR (old Mac) are read by `_text` instead, untracked.
    """

    def __init__(self, binary: IO[bytes], encoding: str, offset: int) -> None:
        binary.seek(offset)
        if offset:  # past the byte-order mark, if the file has one
            encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.offset = offset
        self._binary = binary
        self._decode = codecs.getincrementaldecoder(encoding)(errors="strict").decode

    def __iter__(self) -> Iterator[str]:
        for line in iter(self._binary.readline, b""):
            self.offset += len(line)
            yield self._decode(line)


def _bare_cr(binary: IO[bytes]) -> bool:
    """Whether the file's lines end at a bare CR: a CR, and no LF, in its first 64 KB."""
    binary.seek(0)
    head = binary.read(_SAMPLE)
    binary.seek(0)
    return b"\r" in head and b"\n" not in head


def _tracked(binary: IO[bytes], options: ReadOptions, resume: Resume | None) -> Table:
    """`_numbered` over `_Lines`, from the start or from `resume` (the header is always
    read from the start)."""
    lines = _Lines(binary, options.encoding, 0)
    numbered = enumerate(_csv_rows(lines, options.delimiter, options.encoding), start=1)
    before, header = _first_row(numbered)
    if resume is not None:
        offset, before = resume
        lines = _Lines(binary, options.encoding, offset)
        rows_on = _csv_rows(lines, options.delimiter, options.encoding, first=before + 1)
        numbered = enumerate(rows_on, start=before + 1)
    last = [before]  # the number of the last row read (or of the header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, row in _non_blank(numbered):
            last[0] = number
            yield number, row

    return Table(header=header, rows=rows(), resume=lambda: (lines.offset, last[0]))


def _text(binary: IO[bytes], encoding: str) -> io.TextIOWrapper:
    binary.seek(0)
    return io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")


def _csv_rows(
    lines: Iterable[str], delimiter: str, encoding: str, first: int = 1
) -> Iterator[list[str]]:
    """The records of `lines`; `first`: the row number of the first line (read on from a
    resume point, the count of lines before it is not known: rows spanning lines shift it)."""
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        near = first + reader.line_num - 1
        raise ImportJobFailed(
            gettext("The CSV file is malformed near row %(near)s: %(exc)s.")
            % {"near": near, "exc": exc}
        ) from exc
    except UnicodeDecodeError as exc:
        raise ImportJobFailed(
            gettext("The file is not valid %(encoding)s text.") % {"encoding": encoding}
        ) from exc


# --- XLSX --------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


@contextmanager
def _workbook(binary: IO[bytes]) -> Iterator[Any]:
    from openpyxl import load_workbook

    binary.seek(0)
    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportJobFailed(
            gettext("The file is not a readable Excel workbook (.xlsx).")
        ) from exc
    try:
        if not workbook.worksheets:
            raise ImportJobFailed(gettext("The workbook has no sheet."))
        yield workbook
    finally:
        workbook.close()


def _xlsx_rows(workbook: Any) -> Iterator[list[str]]:
    """The first sheet's rows as text."""
    for row in workbook.worksheets[0].iter_rows(values_only=True):
        yield [_cell_text(value) for value in row]


# How `xlsx_as_csv` writes a workbook's rows, and how they are read back.
CSV_RENDITION = ReadOptions(format="csv", encoding="utf-8", delimiter=",")


def xlsx_as_csv(file: File, out: IO[bytes]) -> None:
    """Write the workbook's first sheet to `out` as CSV text, row for row, as `open_table`
    reads it (blank rows too, so the rows keep their numbers in the sheet).

    An import reads its file again at each task run (and each slice reads all of it):
    openpyxl reads ~67 µs a row of eight cells, Python's csv module ~0.6 µs.
    """
    with open_binary(file) as binary, _workbook(binary) as workbook:
        text = io.TextIOWrapper(out, encoding=CSV_RENDITION.encoding, newline="")
        try:
            csv.writer(text, delimiter=CSV_RENDITION.delimiter, lineterminator="\r\n").writerows(
                _xlsx_rows(workbook)
            )
            text.flush()
        finally:
            text.detach()


# --- Both --------------------------------------------------------------------------------


def _format_of(binary: IO[bytes]) -> str:
    head = binary.read(4)
    binary.seek(0)
    if not head:
        raise ImportJobFailed(gettext("The file is empty."))
    if head.startswith(_OLE_MAGIC):
        raise ImportJobFailed(
            gettext("Excel 97-2003 files (.xls) are not supported; save the sheet as .xlsx or CSV.")
        )
    return "xlsx" if head.startswith(_ZIP_MAGIC) else "csv"


def resolve_options(binary: IO[bytes], requested: Mapping[str, Any]) -> ReadOptions:
    """Fill in what the steward left to detection: format, encoding (whole file), delimiter."""
    file_format = _format_of(binary)
    if file_format == "xlsx":
        return ReadOptions(format="xlsx")
    encoding = str(requested.get("encoding") or "")
    if encoding in ("", "auto"):
        encoding = detect_encoding(binary)
    elif encoding not in ENCODINGS:
        raise ImportJobFailed(
            gettext("Unsupported encoding %(encoding)s; use one of %(value)s.")
            % {"encoding": repr(encoding), "value": ", ".join(ENCODINGS)}
        )
    elif not _decodes(binary, encoding):
        raise ImportJobFailed(
            gettext("The file is not valid %(encoding)s text; try another encoding.")
            % {"encoding": encoding}
        )
    delimiter = str(requested.get("delimiter") or "")
    if delimiter in ("", "auto"):
        text = _text(binary, encoding)
        try:
            sample = text.read(_SAMPLE)
        finally:
            text.detach()
        delimiter = detect_delimiter(sample)
    elif delimiter not in DELIMITERS:
        raise ImportJobFailed(
            gettext("Unsupported delimiter %(delimiter)s; use , ; | or a tab.")
            % {"delimiter": repr(delimiter)}
        )
    binary.seek(0)
    return ReadOptions(format="csv", encoding=encoding, delimiter=delimiter)


@contextmanager
def open_table(file: File, options: ReadOptions, resume: Resume | None = None) -> Iterator[Table]:
    """The file's header and rows, read with the given options; closes the file afterwards.

    `resume`, a `Table.resume()` of an earlier pass: the rows start after that point, read
    from there (a task run of a large import skips no rows), or, where `Table.resume` is
    not tracked (workbooks, bare-CR files), from the start: the caller then skips them.
    """
    try:
        file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise ImportJobFailed(gettext("The uploaded file is missing from storage.")) from exc
    try:
        if options.format == "xlsx":
            with _workbook(file) as workbook:
                yield _numbered(_xlsx_rows(workbook))
        elif not _bare_cr(file):
            yield _tracked(file, options, resume)
        else:
            text = _text(file, options.encoding)
            try:
                yield _numbered(_csv_rows(text, options.delimiter, options.encoding))
            finally:
                text.detach()
    finally:
        file.close()


@contextmanager
def open_binary(file: File) -> Iterator[IO[bytes]]:
    """The stored file, opened for reading bytes."""
    try:
        file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise ImportJobFailed(gettext("The uploaded file is missing from storage.")) from exc
    try:
        yield file
    finally:
        file.close()
