"""The insights asset: after an import, a report per year with data and charts in the
materialization metadata; a user with nothing yet gets a page, not an error."""

from __future__ import annotations

import base64
import re

from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_insights_write_a_report_per_year_and_show_charts(pipeline: Pipeline) -> None:
    pipeline.drop(
        "alice", "spotify_export", FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
    )
    result = pipeline.materialize("alice", "spotify_export", "media_history", "insights")
    assert result.success
    years = {r[0] for r in pipeline.count("SELECT DISTINCT year(consumed_at) FROM media_items")}
    reports = pipeline.data_dir / "reports" / "alice"
    assert {p.stem for p in reports.glob("*.html")} == {str(y) for y in years}
    meta = metadata(result, "insights")
    charts = str(meta["charts"])
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", charts)
    assert len(images) == 5
    assert all(base64.b64decode(i).startswith(PNG_SIGNATURE) for i in images)
    assert meta["real_plays"] > 0


def test_a_user_with_nothing_gets_a_page(pipeline: Pipeline) -> None:
    result = pipeline.materialize("nobody", "insights")
    assert result.success
    [page] = list((pipeline.data_dir / "reports" / "nobody").glob("*.html"))
    assert "yet" in page.read_text()
