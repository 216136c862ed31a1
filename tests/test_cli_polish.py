"""The CLI's surface: --version, plain help, --format, --quiet and progress, compare --out,
calibrate --out / --in-place."""

import hashlib
import tomllib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import forecast
import forecast.cli
from forecast.cli import app
from forecast.progress import progress

from conftest import ROOT, SHARED

COMMANDS = ["project", "run", "compare", "decompose", "validate", "calibrate", "backtest",
            "import-ssb"]


def test_version_is_the_package_version():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"forecast {declared}\n"
    assert forecast.__version__ == declared


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_type_noise(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    for noise in ("<path>", "<str>", "<bool>", "<int>", "<list", "TEXT", "PATH", "INTEGER",
                  "╭"):
        assert noise not in result.stdout, (command, noise, result.stdout)


def test_run_help_names_what_options_take():
    text = CliRunner().invoke(app, ["run", "--help"]).stdout
    for option in ("--out FOLDER", "--format LIST", "--municipality CODE", "-q, --quiet"):
        assert option in text
    assert "--formats" not in text   # the old name works, hidden


@pytest.mark.parametrize("command", ["project", "run", "compare"])
def test_format_is_the_same_word_everywhere(command):
    assert "--format " in CliRunner().invoke(app, [command, "--help"]).stdout


def test_format_and_its_old_name_together_is_an_error(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "--format", "csv", "--formats", "csv",
                                      "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == "error: --formats: give --format once (--formats is its old name)\n"
    assert not out.exists()


# --- progress ------------------------------------------------------------------------------

def test_progress_is_a_no_op_when_quiet_or_not_a_terminal(capsys):
    for quiet in (True, False):   # under pytest stderr is not a terminal
        with progress("Work", 3, quiet) as advance:
            for _ in range(3):
                advance()
    assert capsys.readouterr() == ("", "")


def test_quiet_silences_the_progress_and_stdout_is_unchanged(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")   # rich: draw as on a terminal
    shown = CliRunner().invoke(app, ["project"])
    quiet = CliRunner().invoke(app, ["project", "--quiet"])
    assert shown.exit_code == quiet.exit_code == 0
    assert "Projecting Bærum MMMM" in shown.stderr
    assert quiet.stderr == ""
    assert shown.stdout == quiet.stdout
    assert "125,454" in quiet.stdout   # Bærum 1.1.2018, SSB 07459


def test_progress_of_draws_counts_the_municipalities(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")   # rich: draw as on a terminal
    shown = CliRunner().invoke(app, ["project", "--all", "--draws", "20"])
    assert shown.exit_code == 0, shown.output
    assert "357/357" in shown.stderr


@pytest.mark.parametrize("command", ["project", "run", "compare", "calibrate", "backtest"])
def test_every_command_with_progress_has_quiet(command):
    assert "--quiet" in CliRunner().invoke(app, [command, "--help"]).stdout


# --- compare --out ---------------------------------------------------------------------------

def test_compare_out_writes_the_side_by_side_table(tmp_path):
    out = tmp_path / "out"
    files = [str(ROOT / "scenarios" / f) for f in ("baerum-ldip.toml",
                                                   "baerum-dekningsgrad-22.toml")]
    result = CliRunner().invoke(app, ["compare", *files, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns[:3]) == ["service", "measure", "scenario"]
    assert str(2038) in table.columns and str(2019) in table.columns   # every year
    need = table[(table["service"] == "Heldøgns omsorgsplasser")
                 & (table["measure"] == "need (plasser)")].set_index("scenario")["2038"]
    a, b = need["Bærum LDIP"], need["Bærum LDIP – dekningsgrad 22 %"]
    assert need["Δ Bærum LDIP – dekningsgrad 22 %"] == pytest.approx(b - a, abs=1e-3)
    assert need["Δ % Bærum LDIP – dekningsgrad 22 %"] == pytest.approx(100 * (b - a) / a,
                                                                      abs=1e-3)
    # the same need as each scenario's own rows
    long = pd.read_csv(out / "demand_scenarios.csv")
    rows = long[(long["service"] == "heldogn") & (long["year"] == 2038)
                & (long["measure"] == "need")].set_index("scenario")["value"]
    assert a == pytest.approx(rows["Bærum LDIP"], abs=1e-3)
    assert b == pytest.approx(rows["Bærum LDIP – dekningsgrad 22 %"], abs=1e-3)
    # it says what it wrote, every file
    for path in out.iterdir():
        if path.name != "manifest.json":
            assert f"wrote {path}: " in result.stdout, path.name
    assert "Δ and Δ % = difference from ldip" in result.stdout


# --- calibrate: --out or --in-place ----------------------------------------------------------

RATE_FILES = ["population.csv", "mortality.csv", "fertility.csv", "birth_sex_ratio.csv",
              "migration.csv", "e0_history.csv", "housing_profile.csv"]


def _hashes(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _same_numbers(a, b):
    x, y = pd.read_csv(a), pd.read_csv(b)
    assert list(x.columns) == list(y.columns)
    for col in x.columns:
        if x[col].dtype.kind == "f":
            assert np.allclose(x[col], y[col], rtol=1e-8, atol=0), (a, col)
        else:
            assert (x[col] == y[col]).all(), (a, col)


@pytest.mark.parametrize("args, key", [([], "--out"), (["--in-place", "--out", "x"], "--in-place")])
def test_calibrate_needs_out_or_in_place(args, key, tmp_path):
    shipped = _hashes(ROOT / "data")
    result = CliRunner().invoke(app, ["calibrate", "--shared", str(SHARED), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {key}: ") and result.stderr.count("\n") == 1
    assert _hashes(ROOT / "data") == shipped


def test_calibrate_out_writes_there_and_leaves_data_alone(tmp_path):
    shipped = _hashes(ROOT / "data")
    out = tmp_path / "rates"
    result = CliRunner().invoke(app, ["calibrate", "--shared", str(SHARED), "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(RATE_FILES + ["manifest.json"])
    for name in RATE_FILES:   # the shipped files are what calibrate makes of the sources
        _same_numbers(out / name, ROOT / "data" / "baerum" / name)
    assert _hashes(ROOT / "data") == shipped
    # a second run replaces its own earlier result
    again = CliRunner().invoke(app, ["calibrate", "--shared", str(SHARED), "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_calibrate_out_refuses_a_data_folder(project_copy):
    """--out pointed at a data folder (files calibrate did not write) is refused: only
    --in-place rewrites one."""
    data = project_copy / "data" / "baerum"
    before = _hashes(data)
    result = CliRunner().invoke(app, ["calibrate", "--shared", str(SHARED), "--out", str(data)])
    assert result.exit_code == 2 and "not written by forecast" in result.stderr
    assert _hashes(data) == before


def test_calibrate_in_place_rewrites_the_shipped_folder(project_copy, monkeypatch):
    monkeypatch.setattr(forecast.cli, "REPO_ROOT", project_copy)
    data = project_copy / "data" / "baerum"
    (data / "mortality.csv").write_text("broken\n")
    programme = (data / "housing_programme.csv").read_bytes()
    result = CliRunner().invoke(app, ["calibrate", "--shared", str(SHARED), "--in-place",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    _same_numbers(data / "mortality.csv", ROOT / "data" / "baerum" / "mortality.csv")
    assert (data / "housing_programme.csv").read_bytes() == programme   # not a rate file
    assert (data / "areas").is_dir()
    assert f"wrote {data / 'mortality.csv'}" in result.stdout
