"""Quote tests: the FlatFee third-party plugin installed, and a park of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import run, unique_slug
from tests.plugins.third_party.installer import flat_fee_installed
from tests.tenants.catalog.helpers import set_mode
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant


@pytest.fixture(scope="module")
def flat_fee(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with flat_fee_installed(tmp_path_factory.mktemp("site-packages")):
        yield


@pytest.fixture(scope="module")
def quote_park(migrated: Settings, flat_fee: None) -> str:
    """A park whose rows the quote tests may change freely, with flat_fee switched on."""
    slug = unique_slug("quotes")
    run(migrated, lambda db: provision_tenant(db, slug, "Quote Park"))
    run(migrated, lambda db: set_mode(db, slug, "flat_fee", True))
    return slug
