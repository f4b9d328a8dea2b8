"""The JSON array reader every JSON export plugin shares: hostile values inside one
record must not escape as exceptions other than a located file_parse_error."""

from pathlib import Path

import pytest

from mca_pipeline.core import ErrorCode
from mca_pipeline.plugins.export_files import ExportFileError, iter_json_array


def test_an_integer_too_long_for_python_leaves_the_other_records_readable(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('[{"ms": 1}, {"ms": ' + "9" * 5000 + '}, {"ms": 3}]')

    values = [element["ms"] for element, _ in iter_json_array(path)]

    assert values[0] == 1 and values[2] == 3
    assert values[1] == "9" * 5000  # kept as digits: the plugin skips it as not a number


def test_nesting_deeper_than_any_export_rejects_the_file_at_that_record(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('[{"ms": 1},\n' + "[" * 200_000 + "]" * 200_000 + "]")

    with pytest.raises(ExportFileError) as caught:
        list(iter_json_array(path))

    error = caught.value.error
    assert error.code == ErrorCode.FILE_PARSE_ERROR
    assert "line 2" in error.message and "nested too deeply" in error.message


def test_resuming_after_a_yielded_offset_continues_with_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "plays.json"
    path.write_text('[{"n": 1}, {"n": "é"}, {"n": 3}]', encoding="utf-8")

    first, second, third = list(iter_json_array(path))
    resumed = [element for element, _ in iter_json_array(path, start=first[1])]

    assert resumed == [second[0], third[0]]
