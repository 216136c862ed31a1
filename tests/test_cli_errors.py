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


def _sub(path, pattern, new):
    """Replace the first match of a regular expression (values that may be revised)."""
    text, n = re.subn(pattern, new, path.read_text(), count=1, flags=re.MULTILINE)
    assert n == 1, f"{pattern!r} not in {path}"
    path.write_text(text)


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
    # absurd values: upper bounds (forecast/bounds.py)
    "TFR 50": (lambda d: _edit(d / S, "[fertility]\n", "[fertility]\ntfr = 50\n"),
               "baerum-mmmm.toml", "fertility.tfr: expected a value <= 10"),
    "migration level 1e308": (lambda d: _edit(d / S, "in_level = 1.0", "in_level = 1e308"),
                              "baerum-mmmm.toml", "migration.in_level"),
    "TFR shifted above the bound": (lambda d: _edit(d / "scenarios/baerum-llml.toml",
                                                    "2038 = -0.2", "2038 = 20.0"),
                                    "baerum-llml.toml", "fertility.tfr_shift"),
    "1e308 dwellings": (lambda d: _edit(d / "scenarios/baerum-boligprogram.toml",
                                        "persons_per_dwelling = 2.528",
                                        "persons_per_dwelling = 2.528\ndwellings = 1e308"),
                        "baerum-boligprogram.toml", "housing.dwellings"),
    "1e308 dwellings in the programme file": (
        lambda d: _edit(d / "data/baerum/housing_programme.csv", "2019,700", "2019,1e308"),
        "housing_programme.csv", "dwellings: expected values <= 100000"),
    # a file in the wrong unit or shape
    "mortality per 1,000": (lambda d: _scale_column(d / "data/baerum/mortality.csv", "mx", 1000),
                            "mortality.csv", "mx: the female rates give a life expectancy"),
    "e0 history with women/men columns": (lambda d: _women_men(d / "data/baerum/e0_history.csv"),
                                          "e0_history.csv", "expected columns year,sex,e0"),
}
LLML_CASES = {"missing extends", "negative TFR", "shifted e0 out of range",
              "TFR shifted above the bound"}
OTHER_SCENARIO = {"1e308 dwellings": "baerum-boligprogram.toml",
                  "1e308 dwellings in the programme file": "baerum-boligprogram.toml"}


def _scale_column(path, column, factor):
    import pandas as pd
    df = pd.read_csv(path)
    df[column] *= factor
    df.to_csv(path, index=False)


def _women_men(path):
    """e0 by year in two columns women,men instead of rows per sex."""
    import pandas as pd
    df = pd.read_csv(path)
    wide = df.pivot(index="year", columns="sex", values="e0")
    wide.rename(columns={"female": "women", "male": "men"}).reset_index().to_csv(path, index=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_gives_one_line_error(project_copy, name):
    breaker, file_part, key_part = CASES[name]
    breaker(project_copy)
    scenario = ("baerum-llml.toml" if name in LLML_CASES else
                OTHER_SCENARIO.get(name, "baerum-mmmm.toml"))
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


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Usage:" not in result.output
    return lines[0]


L = "scenarios/baerum-ldip.toml"
RUN_CASES = {
    # the first service of the file is heldogn
    "unit cost 1e308": (lambda d: _sub(d / L, r"^unit_cost = .*$", "unit_cost = 1e308"),
                        "services.heldogn.cost.unit_cost: expected a value <= 1000000000.0"),
    "investment 1e308": (lambda d: _sub(d / L, r"^investment_per_place = .*$",
                                        "investment_per_place = 1e308"),
                         "services.heldogn.cost.investment_per_place"),
    # each opening is a finite number, their sum is not: the capacity is named
    "capacity that overflows": (lambda d: _sub(d / L, r"openings = \{ 2020 = \d+, 2022 = \d+",
                                               "openings = { 2020 = 1e308, 2022 = 1e308"),
                                "services.heldogn.capacity: the capacity is not finite from 2022"),
}


@pytest.mark.parametrize("name", sorted(RUN_CASES))
def test_run_with_an_absurd_value_gives_one_line_error(project_copy, name):
    breaker, expected = RUN_CASES[name]
    breaker(project_copy)
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["run", str(project_copy / L), "--format", "csv",
                                      "--out", str(out)])
    line = _one_line_error(result)
    assert "baerum-ldip.toml" in line and expected in line, line
    assert not out.exists()


def test_overflow_is_one_line_in_a_real_process(project_copy):
    """numpy's overflow warnings do not reach stderr: the one line names the assumption."""
    RUN_CASES["capacity that overflows"][0](project_copy)
    proc = subprocess.run([sys.executable, "-m", "forecast", "validate", str(project_copy / L)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "services.heldogn.capacity" in proc.stderr


@pytest.mark.parametrize("years", [("2038", "2018"), ("2018", "2018")])
def test_decompose_reversed_years_names_the_options(years):
    result = CliRunner().invoke(app, ["decompose", "--from", years[0], "--to", years[1]])
    line = _one_line_error(result)
    assert f"--to: expected --to after --from, got --from {years[0]} --to {years[1]}" in line


def test_decompose_year_outside_the_horizon_names_the_option():
    result = CliRunner().invoke(app, ["decompose", "--from", "2010", "--to", "2030"])
    line = _one_line_error(result)
    assert "--from: expected a year in 2018-2038, got 2010" in line and "year_from" not in line


def test_decompose_error_from_the_decomposition_is_one_line(monkeypatch):
    """A service the decomposition cannot split (e.g. no base-year users) is a ForecastError
    there; the CLI prints its one line."""
    import forecast.decomposition
    from forecast.errors import ForecastError

    def refuse(*args, **kwargs):
        raise ForecastError("no users in 2018; expected users to split", key="services.x.users")
    monkeypatch.setattr(forecast.decomposition, "decompose", refuse)
    result = CliRunner().invoke(app, ["decompose", "--from", "2018", "--to", "2030"])
    assert "services.x.users: no users in 2018" in _one_line_error(result)


@pytest.mark.parametrize("args, expected", [
    (["run", "--bogus"], "forecast run: No such option: --bogus"),
    (["decompose", "--to", "2030"], "Missing option '--from'"),
    (["decompose", "--from", "x", "--to", "2030"], "'--from'"),
    (["project", "--format", "xml"], "'--format'"),
    (["nonsense"], "No such command 'nonsense'"),
])
def test_usage_errors_are_one_line(args, expected):
    line = _one_line_error(CliRunner().invoke(app, args))
    assert expected in line and "╭" not in line, line


def test_usage_error_in_a_real_process_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "forecast", "run", "--bogus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: forecast run: No such option: --bogus (Possible options: --out)\n"


@pytest.mark.parametrize("command", ["backtest", "import-ssb"])
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_out_file_that_is_not_a_file_is_refused_before_any_work(tmp_path, command, kind):
    import os
    import stat

    target = tmp_path / kind
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    args = (["backtest", "--base", "2016"] if command == "backtest" else
            ["import-ssb", str(tmp_path / "not-read.json")])
    line = _one_line_error(CliRunner().invoke(app, [*args, "--out", str(target)]))
    what = "a device or special file" if kind == "fifo" else "a folder"
    assert f"{target}: cannot write here: {what}; expected a file path" in line
    mode = os.stat(target).st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISDIR(mode)


def test_bad_input_leaves_an_earlier_result_byte_identical(project_copy):
    """The output folder of an earlier run is untouched when a later run meets a bad input."""
    import hashlib

    out = project_copy / "out"
    first = CliRunner().invoke(app, ["project", str(project_copy / S), "--out", str(out)])
    assert first.exit_code == 0, first.output

    def hashes():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
    before = hashes()
    CASES["TFR 50"][0](project_copy)
    result = CliRunner().invoke(app, ["project", str(project_copy / S), "--out", str(out)])
    assert "fertility.tfr" in _one_line_error(result)
    assert hashes() == before and set(before) == {"population.csv", "flows.csv",
                                                  "manifest.json"}


def test_unknown_municipality_names_the_option_typed():
    result = CliRunner().invoke(app, ["project", "-m", "Nowhere"])
    line = _one_line_error(result)
    assert "norway-mmmm.toml: --municipality: unknown municipality 'Nowhere'" in line, line
    assert "population.municipality" not in line
