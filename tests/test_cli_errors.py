"""Malformed scenario and data files: one-line error naming file and key, exit 2, nothing written."""

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from forecast.cli import app


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _drop_lines(path, pattern):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(l for l in lines if not re.match(pattern, l)))


S = "scenarios/baerum-mmmm.toml"
CASES = {
    "toml syntax": (lambda d: _edit(d / S, "base_year = 2018", "base_year = = 2018"),
                    "baerum-mmmm.toml", "TOML"),
    "unknown top-level key": (lambda d: _edit(d / S, "base_year", "base_yaer"),
                              "baerum-mmmm.toml", "base_yaer"),
    "unknown key in section": (lambda d: _edit(d / S, "in_level", "in_levle"),
                               "baerum-mmmm.toml", "migration.in_levle"),
    "wrong type": (lambda d: _edit(d / S, "end_year = 2038", 'end_year = "2038"'),
                   "baerum-mmmm.toml", "end_year"),
    "end before base": (lambda d: _edit(d / S, "end_year = 2038", "end_year = 2010"),
                        "baerum-mmmm.toml", "end_year"),
    "year outside horizon": (lambda d: _edit(d / S, "in_level = 1.0", "in_level = { 2050 = 1.2 }"),
                             "baerum-mmmm.toml", "migration.in_level"),
    "negative level": (lambda d: _edit(d / S, "out_level = 1.0", "out_level = -0.5"),
                       "baerum-mmmm.toml", "migration.out_level"),
    "impossible e0": (lambda d: _edit(d / S, 'e0_male = "trend"', "e0_male = 250"),
                      "baerum-mmmm.toml", "mortality.e0_male"),
    "missing data file": (lambda d: (d / "data/baerum/fertility.csv").unlink(),
                          "baerum-mmmm.toml", "fertility.file"),
    "missing extends": (lambda d: _edit(d / "scenarios/baerum-llml.toml", 'extends = "baerum-mmmm.toml"',
                                        'extends = "nowhere.toml"'),
                        "baerum-llml.toml", "extends"),
    "missing ages": (lambda d: _drop_lines(d / "data/baerum/mortality.csv", r"male,5[0-4],"),
                     "mortality.csv", "age"),
    "not a number": (lambda d: _edit(d / "data/baerum/population.csv", "2018,female,0,",
                                     "2018,female,0,abc"), "population.csv", "persons"),
    "negative count": (lambda d: _edit(d / "data/baerum/population.csv", "2018,male,30,",
                                       "2018,male,30,-"), "population.csv", "persons"),
    "missing column": (lambda d: _edit(d / "data/baerum/migration.csv", "outrate", "out_rate"),
                       "migration.csv", "outrate"),
    "rate above one": (lambda d: _edit(d / "data/baerum/migration.csv", "\nfemale,20,",
                                       "\nfemale,20,0,0,1.5\nfemale,99999,"), "migration.csv", None),
    "base year not in data": (lambda d: _edit(d / S, "base_year = 2018\nend_year = 2038",
                                               "base_year = 2019\nend_year = 2038"),
                              "population.csv", "year"),
    "duplicate row in a history year": (lambda d: _edit(d / "data/baerum/population.csv",
                                                        "\n2010,female,3,", "\n2010,female,4,"),
                                        "population.csv", "duplicate row for 2010, female, age 4"),
    "table key given a number": (lambda d: _edit(d / S, "out_level = 1.0", "out_level = 1.0\ncomponents = 5"),
                                 "baerum-mmmm.toml", "migration.components"),
    "shifted e0 out of range": (lambda d: _edit(d / "scenarios/baerum-llml.toml", "2038 = -2.0",
                                                "2038 = 60.0"), "baerum-llml.toml", "mortality.e0_shift"),
    "negative TFR": (lambda d: _edit(d / "scenarios/baerum-llml.toml", "2038 = -0.2", "2038 = -9.0"),
                     "baerum-llml.toml", "fertility.tfr_shift"),
}
LLML_CASES = {"missing extends", "negative TFR", "shifted e0 out of range"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_gives_one_line_error(project_copy, name):
    breaker, file_part, key_part = CASES[name]
    breaker(project_copy)
    scenario = "baerum-llml.toml" if name in LLML_CASES else "baerum-mmmm.toml"
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(project_copy / "scenarios" / scenario),
                                      "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert file_part in lines[0]
    if key_part:
        assert key_part in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_real_process_exit_code_and_no_traceback(project_copy):
    _edit(project_copy / S, "in_level = 1.0", "in_level = 'lots'")
    proc = subprocess.run([sys.executable, "-m", "forecast", "validate", str(project_copy / S)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "baerum-mmmm.toml: migration.in_level: expected a number" in proc.stderr


def test_import_ssb_without_alder_dimension(tmp_path):
    import json

    from conftest import SHARED

    src = SHARED / "ssb-jsonstat" / "constructed_07459_baerum_2018_by_sex_age.json"
    data = json.loads(src.read_text())
    size = dict(zip(data["id"], data["size"]))
    # drop Alder by keeping only age 0 and removing the dimension
    alder = data["id"].index("Alder")
    n_age = size["Alder"]
    values = data["value"]
    stride = 1
    for d in data["id"][alder + 1:]:
        stride *= size[d]
    keep = [v for i, v in enumerate(values) if (i // stride) % n_age == 0]
    data["id"].pop(alder)
    data["size"].pop(alder)
    del data["dimension"]["Alder"]
    data["value"] = keep
    broken = tmp_path / "no_alder.json"
    broken.write_text(json.dumps(data))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["import-ssb", str(broken), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "no_alder.json" in line and "Alder" in line
    assert not out.exists()


def test_unwritable_output_path_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["project", "--out", str(blocker)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "a_file" in line and "cannot write" in line


@pytest.mark.parametrize("options, file_part, key_part", [
    # a one-municipality population file: no region to select
    (["--municipality", "0219"], "baerum-mmmm.toml", "population.file"),
    (["--all"], "baerum-mmmm.toml", "population.file"),
    (["--municipality", "0219", "--all"], None, "--all"),
])
def test_region_selection_errors(project_copy, options, file_part, key_part):
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(project_copy / S), *options,
                                      "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert key_part in lines[0] and (file_part is None or file_part in lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())
