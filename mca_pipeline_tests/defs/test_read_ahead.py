"""Reading the next export file while one is stored: every read is taken or dropped."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from mca_pipeline.defs.file_import_asset import AHEAD, _ReadAhead
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline_tests.synthetic_exports import write_extended_history


def _reads_left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("mca-columnar-"))


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the reads spill into, to see what they leave behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_next_file_is_read_ahead_and_what_is_not_taken_is_dropped(tmp_path: Path, scratch: Path) -> None:
    files = write_extended_history(tmp_path / "export", 300, files=3)
    with _ReadAhead(SpotifyExportPlugin(), files, logging.getLogger("t")) as reads:
        # The first AHEAD files are being read; the third is asked for when the first is taken.
        assert AHEAD == 2
        files[2].unlink()  # a file gone before its turn is not read
        first = reads.take(files[0])
        assert first is not None and first.rows == 100
        first.close()
        second = reads.take(files[1])
        assert second is not None and second.rows == 100
        second.close()
        assert reads.take(files[2]) is None
    assert _reads_left(scratch) == []


def test_a_read_not_taken_is_closed_when_the_import_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    files = write_extended_history(tmp_path / "export", 200, files=2)
    with (
        pytest.raises(RuntimeError),
        _ReadAhead(SpotifyExportPlugin(), files, logging.getLogger("t")) as reads,
    ):
        read = reads.take(files[0])
        assert read is not None
        read.close()
        raise RuntimeError("a platform error stops the import")
    assert _reads_left(scratch) == []
