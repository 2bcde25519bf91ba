"""Fixtures of the profiles tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_identity_rules() -> Iterator[None]:
    """Each test reads the identity rules its database holds, not a cached earlier copy."""
    from profiles.services.identity_rules import identity_rules_invalidate

    identity_rules_invalidate()
    yield
    identity_rules_invalidate()
