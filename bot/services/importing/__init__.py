"""`followup import FILE`: load contacts from CSV or JSON Lines (SPEC "The import file").

Each row is validated on its own (`ImportRow`); bad rows are reported by file
line and the rest are imported. A row joins the contact that already holds
one of its channel identities, its phone or its e-mail (the rule of SPEC
"Contacts, conversations and threads"), else it creates one, so running the
same file twice changes nothing. Output never repeats a name, phone number or
e-mail address: reasons name the column, not the value.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.runtime import keys_for
from bot.services.importing.apply import BATCH_ROWS, DryRunImporter, Importer
from bot.services.importing.readers import batches, read_rows
from bot.services.importing.report import ImportReport, Progress, print_report
from bot.services.importing.rows import FileProblem, RowContext, RowError
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.scripts import load_all

__all__ = ["ImportReport", "run_import"]


async def run_import(
    settings: Settings,
    redis: RedisClient,
    path: Path,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    now: datetime | None = None,
    keys: Keys | None = None,
    batch_rows: int = BATCH_ROWS,
    progress_interval: float = 1.0,
    progress_rows: int = 10_000,
) -> ImportReport:
    """Import contacts from `path` (CSV or JSON Lines); print progress and a summary to `out`.

    Bad rows are skipped and reported; the others are imported. `dry_run`
    reads the store but writes nothing (repeats of a customer are recognised
    within a batch of `batch_rows` rows). `keys` defaults to the deployment's
    key layout.
    """
    out = out if out is not None else sys.stderr
    now = now if now is not None else datetime.now(UTC)
    store = ContactStore(redis, keys if keys is not None else keys_for(settings))
    report = ImportReport(dry_run=dry_run)
    importer = (DryRunImporter if dry_run else Importer)(store, report, now)
    context = RowContext(default_region=settings.default_phone_region, now=now)
    progress = Progress(out, progress_interval, progress_rows)
    try:
        raw = path.open("rb")
    except OSError as error:
        report.errors.append(RowError(0, f"cannot read the file: {error.strerror}"))
        print_report(report, out)
        return report
    with raw:
        if not dry_run:
            await load_all(redis)
        for batch in batches(read_rows(path, raw, context), batch_rows):
            valid = []
            for parsed in batch:
                if isinstance(parsed, FileProblem):
                    report.errors.append(RowError(parsed.line, parsed.reason))
                    continue
                report.rows += 1
                if isinstance(parsed, RowError):
                    report.errors.append(parsed)
                else:
                    valid.append(parsed)
            if valid:
                await importer.batch(valid)
            progress.update(report)
    report.errors.sort(key=lambda e: e.line)
    print_report(report, out)
    return report
