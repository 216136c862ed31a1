"""A safe output folder (issue 11, item 5): written whole into a temporary folder beside the
target and swapped in; a manifest with hashes; no stale files; bad --out refused."""

import hashlib
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

import forecast
from forecast.cli import app
from forecast.io import atomic, outputs

ROOT = Path(__file__).resolve().parent.parent
MMMM = str(ROOT / "scenarios" / "baerum-mmmm.toml")


def _project(out, *more):
    return CliRunner().invoke(app, ["project", MMMM, "--out", str(out), *more])


def _run(out, formats="csv"):
    return CliRunner().invoke(app, ["run", "--format", formats, "--out", str(out)])


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _check_manifest(folder: Path) -> dict:
    """The manifest lists exactly the other files of the folder, with their sizes and hashes."""
    manifest = _manifest(folder)
    files = {f["name"]: f for f in manifest["files"]}
    assert set(os.listdir(folder)) == set(files) | {"manifest.json"}
    for name, entry in files.items():
        data = (folder / name).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    return manifest


def _one_line_error(result, *parts):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert "Traceback" not in result.output


def _no_temporaries(parent: Path) -> None:
    assert [n for n in os.listdir(parent) if n.startswith(".")] == []


# --- a run writes its files and a manifest -----------------------------------------------

def test_project_writes_files_and_manifest(tmp_path):
    out = tmp_path / "out"
    result = _project(out)
    assert result.exit_code == 0, result.output
    manifest = _check_manifest(out)
    assert [f["name"] for f in manifest["files"]] == ["population.csv", "flows.csv"]
    assert manifest["scenario"]["name"] == "Bærum MMMM"
    assert manifest["scenario"]["file"].endswith("baerum-mmmm.toml")
    assert manifest["forecast_version"] == forecast.__version__
    assert manifest["command"] == "forecast project"
    assert manifest["options"]["format"] == "csv"
    when = datetime.fromisoformat(manifest["time"])
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - when) < timedelta(minutes=10)
    _no_temporaries(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask   # not mkdtemp's 0o700


def test_run_manifest_and_rerun_replaces_the_folder(tmp_path):
    out = tmp_path / "out"
    assert _run(out).exit_code == 0
    first = _check_manifest(out)
    assert {f["name"] for f in first["files"]} == {"population.csv", "flows.csv", "demand.csv"}
    assert first["command"] == "forecast run" and first["options"]["format"] == "csv"
    assert _run(out).exit_code == 0          # its own earlier result is replaced, not refused
    _check_manifest(out)
    _no_temporaries(tmp_path)


def test_fewer_formats_leave_no_stale_file(tmp_path):
    out = tmp_path / "out"
    assert _run(out, "csv,netcdf").exit_code == 0
    assert (out / "result.nc").exists()
    result = _run(out, "csv")
    assert result.exit_code == 0, result.output
    assert not (out / "result.nc").exists()
    manifest = _check_manifest(out)
    assert {f["name"] for f in manifest["files"]} == {"population.csv", "flows.csv",
                                                      "demand.csv"}
    _no_temporaries(tmp_path)


def test_format_switch_in_project(tmp_path):
    out = tmp_path / "out"
    assert _project(out).exit_code == 0
    assert _project(out, "--format", "netcdf").exit_code == 0
    assert set(os.listdir(out)) == {"population.nc", "manifest.json"}
    _check_manifest(out)


# --- a failure leaves the earlier results untouched --------------------------------------

def test_failure_while_writing_leaves_previous_run_byte_identical(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _project(out).exit_code == 0
    before = _snapshot(out)
    real = outputs._write_csv
    calls = []

    def failing_csv(frame):
        write = real(frame)
        calls.append(write)
        if len(calls) == 1:
            return write

        def half_then_fail(path):        # the second file: partly written, then the disk fills
            path.write_text("year,sex\n")
            raise OSError(28, "No space left on device")
        return half_then_fail

    monkeypatch.setattr(outputs, "_write_csv", failing_csv)
    result = _project(out)
    assert result.exit_code != 0
    assert isinstance(result.exception, OSError)
    assert _snapshot(out) == before
    assert os.listdir(tmp_path) == ["out"]            # no temporary folder left behind


def test_failure_in_run_after_some_files_leaves_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(out, "csv").exit_code == 0
    before = _snapshot(out)

    def boom(ds):
        def write(path):
            raise RuntimeError("netcdf library broke")
        return write

    monkeypatch.setattr(outputs, "_write_netcdf", boom)   # after the three CSVs
    result = _run(out, "csv,netcdf")
    assert isinstance(result.exception, RuntimeError)
    assert _snapshot(out) == before
    assert os.listdir(tmp_path) == ["out"]


def test_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _project(out).exit_code == 0
    before = _snapshot(out)
    real_rename = os.rename

    def rename(src, dst):
        if Path(dst) == out:        # moving the new folder into place fails
            if Path(src).name.endswith(".tmp"):
                raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    result = _project(out)
    _one_line_error(result, "out", "cannot replace")
    assert _snapshot(out) == before
    assert os.listdir(tmp_path) == ["out"]


# --- --out must be a folder ---------------------------------------------------------------

@pytest.mark.parametrize("command", ["project", "run"])
@pytest.mark.parametrize("device", ["/dev/stdout", "/dev/null"])
def test_out_device_is_refused(command, device):
    args = [command, "--out", device] + (["--format", "csv"] if command == "run" else [])
    result = CliRunner().invoke(app, args)
    _one_line_error(result, device, "expected a folder")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_out_inside_dev_is_refused(tmp_path):
    _one_line_error(_project("/dev/forecast-results"), "/dev/forecast-results", "/dev")
    assert not os.path.exists("/dev/forecast-results")


def test_out_existing_file_is_refused(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("mine\n")
    _one_line_error(_project(target), "results.csv", "existing file", "expected a folder")
    assert target.read_text() == "mine\n"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_out_fifo_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _one_line_error(_project(fifo), "pipe", "special file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# --- a user's files are never deleted ------------------------------------------------------

def test_folder_with_a_users_file_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("do not delete\n")
    _one_line_error(_project(out), "mine", "manifest.json")
    assert os.listdir(out) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "do not delete\n"
    _no_temporaries(tmp_path)


def test_users_file_added_to_a_result_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    assert _project(out).exit_code == 0
    (out / "notes.txt").write_text("mine\n")
    before = _snapshot(out)
    _one_line_error(_run(out), "out", "notes.txt")
    assert _snapshot(out) == before


def test_empty_existing_folder_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert _project(out).exit_code == 0
    _check_manifest(out)
    _no_temporaries(tmp_path)


def test_symlinked_folder_keeps_the_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert _project(link).exit_code == 0
    assert _project(link, "--format", "netcdf").exit_code == 0
    assert link.is_symlink()
    assert set(os.listdir(real)) == {"population.nc", "manifest.json"}
    _no_temporaries(tmp_path)


def test_compare_writes_a_manifest_naming_every_scenario(tmp_path):
    out = tmp_path / "out"
    files = [str(ROOT / "scenarios" / f) for f in ("baerum-ldip.toml",
                                                   "baerum-dekningsgrad-22.toml")]
    result = CliRunner().invoke(app, ["compare", *files, "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = _check_manifest(out)
    assert "comparison.csv" in {f["name"] for f in manifest["files"]}
    assert [s["file"] for s in manifest["scenarios"]] == files
    assert manifest["command"] == "forecast compare"
    _no_temporaries(tmp_path)
