"""What a person learns about one imported file: records skipped and why, records left
out on purpose, and whether the file was rejected for holding too few readable records.

The rule (README, "Bad input"): a record that cannot be read is skipped and counted; a
file is rejected whole only when it is not the format at all, or when more than
REJECT_SHARE of its records cannot be read — then it is probably a format we do not know
yet, and nothing from it is stored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from mca_pipeline.core import ErrorCode, PluginError, SkippedRecord

#: Share of a file's records that may be unreadable before the file is rejected whole.
REJECT_SHARE = 0.2
#: A file with some readable records is never rejected for this few unreadable ones,
#: so that a 4-record file with one bad row still imports its three good ones.
REJECT_MIN_RECORDS = 3
#: Skipped records described one by one in the report (all are counted).
REPORT_RECORDS = 1000
#: The reason given for records an interrupted earlier run of the same import skipped.
EARLIER_RUN = "skipped by the interrupted earlier run of this import"
#: Examples shown in the Dagster metadata.
METADATA_EXAMPLES = 5


@dataclass
class SkipTally:
    """Skipped and left-out records over all pages of one file, in bounded memory."""

    unreadable: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[SkippedRecord] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)

    def add(self, skipped: list[SkippedRecord], left_out: dict[str, int]) -> None:
        self.unreadable += len(skipped)
        self.reasons.update(r.reason for r in skipped)
        room = REPORT_RECORDS - len(self.examples)
        if room > 0:
            self.examples.extend(skipped[:room])
        self.left_out.update({k: v for k, v in left_out.items() if v > 0})

    def add_earlier(self, unreadable: int) -> None:
        """Records an interrupted earlier run of this import could not read (counted in
        its sync_log pages; their details are in that run's log, not here)."""
        if unreadable:
            self.unreadable += unreadable
            self.reasons[EARLIER_RUN] += unreadable


def too_many_unreadable(readable: int, unreadable: int) -> bool:
    """Whether a file with these counts is rejected whole (see the module docstring)."""
    if unreadable == 0:
        return False
    if readable > 0 and unreadable < REJECT_MIN_RECORDS:
        return False
    return unreadable > REJECT_SHARE * (readable + unreadable)


def rejection(source: str | None, readable: int, tally: SkipTally) -> PluginError:
    """The file_parse_error for a file rejected because too many records failed."""
    total = readable + tally.unreadable
    top = ", ".join(f"{reason} ({n:,})" for reason, n in tally.reasons.most_common(3))
    first = tally.examples[0] if tally.examples else None
    return PluginError(
        code=ErrorCode.FILE_PARSE_ERROR,
        message=(
            f"{source or 'file'}: {tally.unreadable:,} of {total:,} records could not be read "
            f"(more than {REJECT_SHARE:.0%}): probably an export format this version does not know; "
            f"nothing from this file was stored. Most common: {top}"
        ),
        details={
            "file": source,
            "line": first.line if first else None,
            "byte_offset": first.byte_offset if first else None,
            "field": first.field if first else None,
            "problem": f"{tally.unreadable:,} of {total:,} records could not be read",
        },
    )


def report_text(
    *,
    file_name: str,
    plugin: str,
    when: datetime,
    outcome: str,
    readable: int,
    new: int,
    tally: SkipTally,
    error: PluginError | None = None,
    stored: int | None = None,
) -> str:
    """The `<file>.report.txt` written beside an archived or rejected file."""
    lines = [
        f"File:     {file_name}",
        f"Plugin:   {plugin}",
        f"{outcome + ':':<9} {when.isoformat(timespec='seconds')}",
    ]
    if error is not None:
        details = error.details
        lines += [f"Error:    {error.code.value}", f"Problem:  {details.get('problem') or error.message}"]
        for label, key in (("Line", "line"), ("Byte", "byte_offset"), ("Field", "field")):
            if details.get(key) is not None:
                lines.append(f"{label + ':':<9} {details[key]}")
        if error.raw:
            lines += ["", "Excerpt:", error.raw[:2000]]
        lines.append("")
        if stored is not None:
            lines.append(
                f"Items read from this file before the problem: {stored} (kept; nothing stored earlier was lost)."
            )
        else:
            lines.append("Nothing from this file was stored; nothing stored earlier was lost.")
        lines.append(f"Fix or re-export the file, then drop it into inbox/<user>/{plugin}/ again.")
    else:
        lines += [
            "",
            f"Records imported:        {readable:,} ({new:,} new, the rest already stored)",
            f"Records skipped:         {tally.unreadable:,} (could not be read; see below)",
        ]
    if tally.left_out:
        lines.append("")
        lines.append("Left out on purpose (not something watched, heard or read):")
        lines += [f"  {reason}: {n:,}" for reason, n in sorted(tally.left_out.items())]
    if tally.unreadable:
        lines += ["", "Skipped records by reason:"]
        lines += [f"  {reason}: {n:,}" for reason, n in tally.reasons.most_common()]
        shown = len(tally.examples)
        more = f" (the first {shown:,})" if shown < tally.unreadable else ""
        lines += ["", f"Skipped records{more}:", "  line\tbyte\tfield\treason\tdetail"]
        for r in tally.examples:
            detail = (r.detail or r.excerpt or "").replace("\n", " ")[:300]
            lines.append(
                f"  {_blank(r.line)}\t{_blank(r.byte_offset)}\t{r.field or '-'}\t{r.reason}\t{detail}"
            )
    return "\n".join(lines) + "\n"


def _blank(value: int | None) -> str:
    return "-" if value is None else str(value)
