import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of scenarios/ and data/ to break one thing at a time."""
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path
