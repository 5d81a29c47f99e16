"""What an import did: the report, progress lines and the printed summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from bot.services.importing.rows import RowError

#: Bad rows listed after the summary; the report keeps them all.
LISTED_ERRORS = 1000
#: A customer message time this far ahead of "now" is a mistake (a wrong offset).


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do), row by row."""

    dry_run: bool = False
    rows: int = 0  # data rows read (blank lines not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        counts = (
            f"{self.imported}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.errors)} bad rows"
        )
        if self.dry_run:
            return f"dry run, nothing written: would import {counts}"
        return f"imported {counts}"


class Progress:
    """A line every `interval` seconds or `every_rows` rows, whichever comes first."""

    def __init__(
        self,
        out: TextIO,
        interval: float,
        every_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.interval = interval
        self.every_rows = every_rows
        self.clock = clock
        self.started = self.last_time = clock()
        self.last_rows = 0

    def update(self, report: ImportReport) -> None:
        now = self.clock()
        done = report.rows
        if done - self.last_rows < self.every_rows and now - self.last_time < self.interval:
            return
        rate = done / max(now - self.started, 1e-9)
        print(
            f"progress: {done} rows done ({len(report.errors)} bad), {rate:.0f} rows/s",
            file=self.out,
            flush=True,
        )
        self.last_time, self.last_rows = now, done


def print_report(report: ImportReport, out: TextIO) -> None:
    """The summary line, then each bad row (line and reason; never the row's values)."""
    print(report.summary(), file=out)
    for error in report.errors[:LISTED_ERRORS]:
        print(f"line {error.line}: {error.reason}", file=out)
    if len(report.errors) > LISTED_ERRORS:
        print(f"... and {len(report.errors) - LISTED_ERRORS} more bad rows", file=out)
    out.flush()
