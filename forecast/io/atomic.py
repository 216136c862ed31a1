"""Atomic writes: write to a temporary file in the target folder, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ForecastError


def _temp_beside(target: Path) -> Path:
    """An empty temporary file in the target's folder, with the usual permissions
    (mkstemp makes it owner-only, which the renamed output would keep)."""
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
