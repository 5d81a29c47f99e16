"""Reading an import file as rows: CSV with a header row, or JSON Lines."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from bot.services.importing.rows import (
    COLUMNS,
    INBOUND_PREFIX,
    FileProblem,
    RowContext,
    RowError,
    ValidRow,
    column_key,
    is_present,
    shown_column,
    validate_row,
)

#: What reading yields: a row to import, a bad row, or a file that cannot be read as rows.
Parsed = ValidRow | RowError | FileProblem


def _decoded_lines(raw: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """The file's lines as text, endings kept; lines that are not UTF-8 are noted."""
    for number, data in enumerate(raw, start=1):
        if number == 1:
            data = data.removeprefix(codecs.BOM_UTF8)
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield data.decode("utf-8", "replace")


_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
NOT_UTF8 = "the line is not UTF-8 text (save the file as UTF-8)"


def _is_jsonl(path: Path, raw: BinaryIO) -> bool:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return True
    if suffix == ".csv":
        return False
    head = raw.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()
    raw.seek(0)
    return head.startswith(b"{")


def _read_jsonl(raw: BinaryIO, context: RowContext) -> Iterator[Parsed]:
    undecodable: set[int] = set()
    for number, text in enumerate(_decoded_lines(raw, undecodable), start=1):
        if not text.strip():
            continue
        if number in undecodable:
            yield RowError(number, NOT_UTF8)
            continue
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError as error:
            yield RowError(number, f"not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(value, dict):
            yield RowError(number, "not a JSON object")
            continue
        yield _jsonl_row(number, value, context)


def _jsonl_row(number: int, value: dict[str, Any], context: RowContext) -> Parsed:
    cells: dict[str, object] = {}
    unknown: list[str] = []
    for position, (key, item) in enumerate(value.items(), start=1):
        name = column_key(key)
        # Also accept `"last_inbound_at": {"whatsapp": ...}`, JSON's natural shape.
        if name == "last_inbound_at" and isinstance(item, dict):
            nested = {INBOUND_PREFIX + column_key(k): v for k, v in item.items()}
            unknown += [shown_column(n, position) for n in nested if n not in COLUMNS]
            cells.update({n: v for n, v in nested.items() if is_present(v)})
        elif name not in COLUMNS:
            unknown.append(shown_column(name, position))
        elif is_present(item):
            cells[name] = item
    if unknown:
        return RowError(number, f"unknown fields: {', '.join(unknown)}")
    return validate_row(number, cells, context)


_DELIMITERS = (",", ";", "\t")


def _header_delimiter(line: str) -> str:
    """`,` unless `;` or tab splits the header into more known columns (spreadsheet exports)."""

    def known(delimiter: str) -> int:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return sum(column_key(cell) in COLUMNS for cell in cells)

    return max(_DELIMITERS, key=known)


def _header_problem(header: list[str]) -> str | None:
    named = [(i, name) for i, name in enumerate(header, start=1) if name]
    if not any(name in COLUMNS for _, name in named):
        return (
            "the first line must be a header naming the columns "
            "(e.g. first_name,last_name,email,phone)"
        )
    unknown = [shown_column(name, i) for i, name in named if name not in COLUMNS]
    if unknown:
        return f"unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMNS)})"
    names = [name for _, name in named]
    twice = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if twice:
        return f"columns named twice: {', '.join(twice)}"
    return None


def _read_csv(raw: BinaryIO, context: RowContext) -> Iterator[Parsed]:
    undecodable: set[int] = set()
    lines = _decoded_lines(raw, undecodable)
    skipped: list[str] = []
    for text in lines:
        skipped.append(text)
        if text.strip():
            break
    if not skipped or not skipped[-1].strip():
        yield FileProblem(1, "the file is empty: the first line must name the columns")
        return
    header_line = len(skipped)
    reader = csv.reader(chain(skipped, lines), delimiter=_header_delimiter(skipped[-1]))
    header: list[str] = []
    try:
        while not header:  # blank lines before the header read as []
            header = [column_key(cell) for cell in next(reader)]
    except (csv.Error, StopIteration):
        yield FileProblem(header_line, "the header row is not valid CSV")
        return
    if header_line in undecodable:
        yield FileProblem(header_line, NOT_UTF8)
        return
    problem = _header_problem(header)
    if problem is not None:
        # Every row would be read wrongly: nothing is imported.
        yield FileProblem(header_line, problem)
        return
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield RowError(start, f"not valid CSV: {error}")
            if reader.line_num < start:
                return
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line or a row of empty cells (spreadsheet padding)
        if any(n in undecodable for n in range(start, reader.line_num + 1)):
            yield RowError(start, NOT_UTF8)
        elif len(cells) > len(header):
            yield RowError(
                start, f"has {len(cells)} cells but the header names {len(header)} columns"
            )
        else:
            # Fewer cells than columns: the missing ones are empty.
            row = {name: value for name, value in zip(header, cells, strict=False) if name}
            stray = [
                i
                for i, (name, value) in enumerate(zip(header, cells, strict=False), start=1)
                if not name and value.strip()
            ]
            if stray:
                yield RowError(start, f"column {stray[0]} has a value but no header")
            else:
                yield validate_row(start, {k: v for k, v in row.items() if is_present(v)}, context)


def read_rows(path: Path, raw: BinaryIO, context: RowContext) -> Iterator[Parsed]:
    """Rows of a CSV (header row) or JSON Lines file, by extension, else by first character."""
    if _is_jsonl(path, raw):
        return _read_jsonl(raw, context)
    return _read_csv(raw, context)


def batches(rows: Iterable[Parsed], size: int) -> Iterator[list[Parsed]]:
    batch: list[Parsed] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
