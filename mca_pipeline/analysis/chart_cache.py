"""A report's charts are drawn again only when what they show has changed.

Why: the insights asset rewrites the report of every year the user has after each sync,
and drawing a year's five charts takes matplotlib about 0.4 s, more than the metrics of
all the years together (benchmarks/analysis.py). A sync almost always changes only the
current year; the other years' charts are taken from beside their report.

The charts are a function of the report's data, the fonts chosen for its texts and the
drawing code. A fingerprint of those is kept with the PNGs (`.<year>.charts.json`, hidden,
beside `<year>.html`); any difference, or a file that cannot be read, means drawing again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path

import matplotlib

from mca_pipeline.analysis.charts import CHARTS, ReportData, chart_texts, families_for, render_charts
from mca_pipeline.analysis.report import report_path, write_atomically

#: Raised by hand whenever a chart's drawing changes without its data changing.
DRAWING_VERSION = 1


def fingerprint(data: ReportData) -> str:
    """What the charts of `data` depend on, hashed."""
    parts = (
        DRAWING_VERSION,
        matplotlib.__version__,
        tuple(key for key, _, _ in CHARTS),
        tuple(families_for(chart_texts(data))),
        repr(data),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def charts_for(data: ReportData, data_dir: Path) -> dict[str, bytes]:
    """The report's charts: those kept beside it when they show the same, else drawn
    (and kept for the next time)."""
    page = report_path(data_dir, data.user_id, data.year)
    kept = page.with_name(f".{page.stem}.charts.json")
    key = fingerprint(data)
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        saved = json.loads(kept.read_text(encoding="utf-8"))
        if saved["fingerprint"] == key and set(saved["charts"]) == {k for k, _, _ in CHARTS}:
            return {name: base64.b64decode(png, validate=True) for name, png in saved["charts"].items()}
    charts = render_charts(data)
    write_atomically(
        kept,
        json.dumps(
            {"fingerprint": key, "charts": {k: base64.b64encode(v).decode() for k, v in charts.items()}}
        ),
    )
    return charts
