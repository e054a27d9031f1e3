"""The repository layout: `platform/` never shadows the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_folder_has_no_top_level_init() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_import_platform_is_the_standard_library_with_repo_root_on_path() -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import platform, sysconfig, pathlib;"
        "stdlib = pathlib.Path(sysconfig.get_paths()['stdlib']).resolve();"
        "mod = pathlib.Path(platform.__file__).resolve();"
        "print(mod); assert mod.parent == stdlib, mod; platform.python_version();"
        "import vistapass.platform.settings as s;"
        "assert pathlib.Path(s.__file__).resolve().parent == pathlib.Path(sys.argv[1]) / 'platform'"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_folder_maps_into_the_vistapass_namespace() -> None:
    import vistapass.gate_firmware_bridge
    import vistapass.plugins
    import vistapass.tenants

    for module, folder in (
        (vistapass.tenants, "tenants"),
        (vistapass.plugins, "plugins"),
        (vistapass.gate_firmware_bridge, "gate_firmware_bridge"),
    ):
        assert Path(next(iter(module.__path__))).resolve() == ROOT / folder
