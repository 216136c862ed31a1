"""Atomic writes: write to a temporary file in the target folder, then rename; or a whole
output folder at once (`write_folder`), with a manifest."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ForecastError


def check_out_file(target: str | os.PathLike) -> None:
    """Refuse, with a one-line ForecastError, a file target that a rename would destroy: a
    path in /dev (`--out /dev/stdout` would replace the device) or an existing folder,
    device or other special file. A missing or regular file is fine."""
    import stat

    shown = str(target)
    for path in (Path(os.path.abspath(target)), Path(os.path.realpath(target))):
        if path == Path("/dev") or Path("/dev") in path.parents:
            raise ForecastError("cannot write here: a path in /dev; expected a file path",
                                file=shown)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a device or special file"
        raise ForecastError(f"cannot write here: {what}; expected a file path", file=shown)


def _temp_beside(target: Path) -> Path:
    """An empty temporary file in the target's folder, with the usual permissions
    (mkstemp makes it owner-only, which the renamed output would keep)."""
    check_out_file(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ForecastError(f"cannot write here ({exc.strerror or exc}); expected a folder "
                            "that can be created and written to", file=str(target)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def _replace(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as exc:  # e.g. the target is an existing folder
        raise ForecastError(f"cannot write here ({exc.strerror or exc}); expected a file path",
                            file=str(target)) from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, else vanishes."""
    target = Path(target)
    tmp = _temp_beside(target)
    try:
        yield tmp
        _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_all(writers: dict[Path, Callable[[Path], None]]) -> list[Path]:
    """Write several files so that either all of them appear or none does.

    Each writer gets a temporary path to fill; only when every writer succeeded are the files
    renamed into place.
    """
    done: list[tuple[Path, Path]] = []
    try:
        for target, write in writers.items():
            tmp = _temp_beside(Path(target))
            done.append((tmp, Path(target)))
            write(tmp)
        for tmp, target in done:
            _replace(tmp, target)
        return [target for _, target in done]
    finally:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)


# --- a whole output folder ---------------------------------------------------------------

MANIFEST = "manifest.json"


def check_out_folder(target: str | os.PathLike) -> Path:
    """`target` as a folder path that may be written, or a one-line ForecastError.

    Refused: a path inside /dev, an existing regular file, a device or other special file,
    and a non-empty folder holding files forecast did not write (see `write_folder`).
    """
    import stat

    raw = Path(target)
    shown = str(target)
    for path in (Path(os.path.abspath(raw)), Path(os.path.realpath(raw))):
        if path == Path("/dev") or Path("/dev") in path.parents:
            raise ForecastError("cannot write here: a path in /dev; expected a folder for the "
                                "results", file=shown)
    try:
        mode = os.stat(raw).st_mode
    except FileNotFoundError:
        return raw
    except OSError as exc:
        raise ForecastError(f"cannot write here ({exc.strerror or exc}); expected a folder",
                            file=shown) from None
    if raw.is_symlink() and stat.S_ISDIR(mode):
        raw = Path(os.path.realpath(raw))   # replace the folder linked to, keep the link
    if stat.S_ISDIR(mode):
        _owned_by_forecast(raw)
        return raw
    what = "an existing file" if stat.S_ISREG(mode) else "a device or special file"
    raise ForecastError(f"cannot write here: {what}; expected a folder for the results",
                        file=shown)


def _owned_by_forecast(folder: Path) -> None:
    """Refuse, with a one-line error, a non-empty folder holding files forecast did not write:
    no manifest.json, or entries the manifest does not list."""
    try:
        names = set(os.listdir(folder))
    except OSError as exc:
        raise ForecastError(f"cannot read the folder ({exc.strerror or exc}); expected a "
                            "folder that can be written to", file=str(folder)) from None
    if not names:
        return
    listed: set[str] = set()
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            listed = {str(f["name"]) for f in data.get("files", [])}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            listed = set()
        else:
            listed.add(MANIFEST)
    if not listed:
        raise ForecastError("holds files not written by forecast (no manifest.json); expected "
                            "an empty folder or an earlier forecast result — not replaced",
                            file=str(folder))
    foreign = sorted(names - listed)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise ForecastError(f"holds {foreign[0]!r}{more}, not written by forecast (not in "
                            "manifest.json); expected an empty folder or an earlier forecast "
                            "result — not replaced", file=str(folder))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mkdtemp_beside(target: Path, tag: str) -> Path:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=f".{tag}",
                                    dir=target.parent))
    except OSError as exc:
        raise ForecastError(f"cannot write here ({exc.strerror or exc}); expected a folder "
                            "that can be created and written to", file=str(target)) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)   # mkdtemp makes it owner-only
    return tmp


def write_folder(target: str | os.PathLike, writers: Mapping[str, Callable[[Path], None]],
                 manifest: Mapping | None = None) -> list[Path]:
    """Write a run's files as one folder that replaces `target` as a whole, or not at all.

    Every writer fills its file in a temporary folder beside `target` (same parent, so the
    final move is a rename); only when all succeeded does that folder take the place of
    `target`. The old folder is moved aside and removed after the swap, so no file of an
    earlier run is left mixed with the new ones. A non-empty `target` is replaced only when
    its manifest.json lists every file in it; anything else is refused. With `manifest`
    (scenario, command, ...), manifest.json is written too: these entries, the forecast
    version, the time (UTC) and each file's name, size and sha256.
    Returns the paths written (without manifest.json), as they are under `target`.
    """
    target = check_out_folder(target)
    if target.name in ("", ".", ".."):
        target = Path(os.path.abspath(target))
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ForecastError(f"cannot write here ({exc.strerror or exc}); expected a folder "
                            "that can be created and written to", file=str(target)) from None
    tmp = _mkdtemp_beside(target, "tmp")
    try:
        for name, write in writers.items():
            write(tmp / name)
        if manifest is not None:
            _write_manifest(tmp, list(writers), manifest)
        _swap(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [target / name for name in writers]


def _write_manifest(folder: Path, names: list[str], info: Mapping) -> None:
    from .. import __version__

    data = dict(info)
    data.setdefault("forecast_version", __version__)
    data.setdefault("time", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    data["files"] = [{"name": name, "size": (folder / name).stat().st_size,
                      "sha256": _sha256(folder / name)} for name in names]
    (folder / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str)
                                   + "\n", encoding="utf-8")


def _swap(new: Path, target: Path) -> None:
    """Put folder `new` in the place of folder `target`; the old one is removed after."""
    aside = _mkdtemp_beside(target, "old")
    try:
        os.rename(target, aside)       # onto the empty folder `aside`
    except OSError as exc:
        os.rmdir(aside)
        raise ForecastError(f"cannot replace the folder ({exc.strerror or exc}); expected a "
                            "folder that can be renamed", file=str(target)) from None
    try:
        os.rename(new, target)
    except OSError as exc:
        os.rename(aside, target)       # put the earlier results back
        raise ForecastError(f"cannot replace the folder ({exc.strerror or exc}); expected a "
                            "folder that can be renamed", file=str(target)) from None
    shutil.rmtree(aside, ignore_errors=True)
