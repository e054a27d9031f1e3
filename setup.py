"""Maps each top-level folder into the `vistapass` namespace.

`platform/` has no __init__.py: as a plain top-level package it would shadow the
standard library's `platform` module whenever the repository root is on sys.path.
Everything else about the project lives in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = {
    "vistapass.platform": "platform",
    "vistapass.tenants": "tenants",
    "vistapass.plugins": "plugins",
    "vistapass.gate_firmware_bridge": "gate_firmware_bridge",
}

packages = []
for name, folder in FOLDERS.items():
    packages.append(name)
    packages += [
        f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])
    ]

setup(
    packages=packages,
    package_dir=FOLDERS,
    package_data={"": ["*.mako", "*.html", "*.css", "*.js", "*.txt"]},
)
