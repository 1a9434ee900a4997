"""Reading catalog CSV files: the header, and records with their line numbers and byte offsets.

The planner reads records with `iter_records`; the chunk processors read the same records from
`text_lines` (rows.read_text_rows, tested to give what `iter_records` gives), or with
`iter_records` for a chunk that is not valid UTF-8; so a chunk (a byte range cut at a record
boundary by the planner) parses exactly as the planner saw it.
A malformed record (unterminated quote, NUL byte) becomes one bad record for its first
physical line, and reading resumes on the next line: one broken quote never swallows the
rows after it.
"""
from __future__ import annotations

import csv
import io
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from catalog.imports.columns import KNOWN_COLUMNS, match_columns
from catalog.imports.errors import BadFileError, MissingColumns

BOM = b"\xef\xbb\xbf"
# Far above any valid field (see rules.py); bounds how far one unterminated quote reads ahead.
MAX_FIELD_CHARS = 64 * 1024

csv.field_size_limit(MAX_FIELD_CHARS)


@dataclass(frozen=True)
class Header:
    names: tuple[str, ...]                 # as written in the file, trimmed
    positions: dict[str, int]              # known column -> index
    unknown: tuple[str, ...] = field(default=())
    mapping: dict[str, str] = field(default_factory=dict)   # known column -> header as written
    layout: dict | None = None             # a Shopify export's layout (columns.match_columns), else None


def header_from_plan(names: list[str], positions: dict[str, int] | None, layout: dict | None = None) -> Header:
    """The header as the planner resolved it (a chunk's descriptor carries the names, the columns'
    positions and the layout), so a chunk never matches the columns differently."""
    if positions is None:       # a manifest planned before positions were carried: names as they are
        return header_from_names(names)
    return Header(names=tuple(names), positions={k: int(v) for k, v in positions.items()}, layout=layout)


def header_from_names(names: list[str]) -> Header:
    """Rebuilds a header of exact column names the planner already checked."""
    positions = {}
    for index, name in enumerate(names):
        key = name.strip().lower()
        if key in KNOWN_COLUMNS and key not in positions:
            positions[key] = index
    return Header(names=tuple(names), positions=positions)


def parse_header(line: bytes, mapping: dict[str, str] | None = None) -> Header:
    """Parses the header line (BOM already stripped); `mapping` ({field: header}) decides before the
    aliases (columns.py)."""
    if b"\x00" in line:
        raise BadFileError("the file is not a text CSV file (it contains NUL bytes)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadFileError("the header row is not valid UTF-8; save the file as UTF-8 CSV") from None
    try:
        names = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        raise BadFileError("the header row is not valid CSV") from None
    names = tuple(n.strip() for n in names)
    match = match_columns(names, mapping)
    if match.duplicate is not None:
        raise BadFileError(f"column '{match.duplicate}' appears twice in the header row")
    if match.missing:
        missing = match.missing
        found = ", ".join(f"'{n}'" for n in names if n) or "nothing"
        raise MissingColumns(
            f"required column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"missing from the header row (found {found}); map a column to "
            f"{'each' if len(missing) > 1 else 'it'} and import again",
            headers=list(names), missing=list(missing), mapping=match.mapping)
    return Header(names=names, positions=match.positions, unknown=match.unknown, mapping=match.mapping,
                  layout=match.layout)


def split_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Yields physical lines, each with its line ending, from a stream of byte blocks."""
    pending = b""
    for block in blocks:
        if not block:
            continue
        pending += block
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def text_lines(data: bytes) -> list[str] | None:
    """The physical lines of `data`, decoded, each with its line ending: what `split_lines` and
    `iter_records` decode line by line, in two C calls for a whole chunk. None when `data` is not
    valid UTF-8 (read it with `iter_records` then: it reports the bad rows one by one).
    UTF-8 never uses the byte 0x0A inside a character, so splitting after decoding cuts the
    same lines; `newline="\n"` splits on "\n" only (not on "\r" or Unicode line separators)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return io.StringIO(text, newline="\n").readlines()


@dataclass(slots=True)
class Record:
    line: int                      # physical line number where the record starts (1-based)
    end: int                       # byte offset just past the record
    last_line: int                 # physical line number where the record ends
    fields: list[str] | None       # None when the record is malformed
    error: str | None = None       # why it is malformed
    raw: str = ""                  # the record's text, kept only for malformed records


class _LineFeed:
    """Feeds decoded lines to csv.reader while keeping count of what the reader took."""

    __slots__ = ("_lines", "_pushback", "offset", "line", "taken", "bad_encoding")

    def __init__(self, lines: Iterator[bytes], offset: int, line: int):
        self._lines = lines
        self._pushback: deque[bytes] = deque()
        self.offset = offset          # bytes consumed so far
        self.line = line              # physical lines consumed so far
        self.taken: list[bytes] = []  # lines of the record being read
        self.bad_encoding = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self._pushback.popleft() if self._pushback else next(self._lines)
        self.taken.append(raw)
        self.offset += len(raw)
        self.line += 1
        if raw.isascii():          # most lines: no decoding work to check
            return raw.decode("ascii")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_encoding = True
            return raw.decode("utf-8", "replace")

    def start_record(self) -> None:
        self.taken.clear()
        self.bad_encoding = False

    def rewind_all_but_first(self) -> None:
        """After a malformed record: give back every line but its first, to be read again."""
        rest = self.taken[1:]
        for raw in reversed(rest):
            self._pushback.appendleft(raw)
            self.offset -= len(raw)
            self.line -= 1
        del self.taken[1:]


def describe_csv_error(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text or "field larger than field limit" in text:
        return "malformed CSV: a quoted field is never closed"
    if "expected after" in text:
        return "malformed CSV: text after a closing quote (write a quote inside a quoted field as \"\")"
    if "NUL" in text:
        return "malformed CSV: the row contains NUL bytes"
    if "new-line character" in text:
        return "malformed CSV: a line break inside an unquoted field"
    return f"malformed CSV: {text}"


def iter_records(lines: Iterator[bytes], *, offset: int = 0, line: int = 0) -> Iterator[Record]:
    """Reads records from physical lines. `offset` and `line` are where `lines` starts in the file."""
    feed = _LineFeed(lines, offset, line)
    while True:
        reader = csv.reader(feed, strict=True)
        try:
            while True:
                feed.start_record()
                start_line = feed.line + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                if feed.bad_encoding:
                    yield Record(start_line, feed.offset, feed.line, None, "the row is not valid UTF-8",
                                 b"".join(feed.taken).decode("utf-8", "replace"))
                else:
                    yield Record(start_line, feed.offset, feed.line, fields)
        except csv.Error as error:
            if not feed.taken:
                raise
            feed.rewind_all_but_first()
            raw = feed.taken[0].decode("utf-8", "replace")
            yield Record(start_line, feed.offset, feed.line, None, describe_csv_error(error), raw)
            # the reader is left mid-record; the loop starts a fresh one on the next line
