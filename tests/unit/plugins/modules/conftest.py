"""Unit tests of modules never read or write the user's caches (compose_stack keeps the Compose
version per binary in $XDG_CACHE_HOME)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
