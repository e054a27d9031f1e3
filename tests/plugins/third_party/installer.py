"""Installing the FlatFee test plugin the way pip would, without touching the venv:
a copy of the package and its dist-info folder in a directory put on sys.path."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vistapass.platform.pricing_registry import reload_modes

PACKAGE = "vistapass_pricing_flat"
SOURCE = Path(__file__).resolve().parent / PACKAGE
METADATA = "Metadata-Version: 2.1\nName: vistapass-pricing-flat\nVersion: 0.1\n"
ENTRY_POINTS = f"[vistapass.pricing]\nflat_fee = {PACKAGE}:FlatFee\n"


@contextmanager
def flat_fee_installed(site: Path) -> Iterator[None]:
    shutil.copytree(SOURCE, site / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    dist_info = site / f"{PACKAGE}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(METADATA)
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        reload_modes()
        try:
            yield
        finally:
            sys.modules.pop(PACKAGE, None)
    # The path is gone again: the registry must forget the plugin too.
    reload_modes()
