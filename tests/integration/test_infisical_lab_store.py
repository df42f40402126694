"""lab/secret_store.py: the lab's Infisical (the API double) starts once, serves the seed's
Layer 2 with random values, keeps its secrets 0600, and stops."""
from __future__ import annotations

import importlib.util
import os
import stat

import pytest

from ansible_collections.colab.cluster.plugins.module_utils._infisical import Resolver
from tests.helpers import ROOT


@pytest.fixture()
def store():
    spec = importlib.util.spec_from_file_location("secret_store", os.path.join(ROOT, "lab", "secret_store.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def test_secret_store_lifecycle(store, tmp_path):
    bases = [str(tmp_path / "lab1"), str(tmp_path / "lab2")]
    values = []
    try:
        for base in bases:
            url = store.ensure(base, port=0)
            directory = store.state_dir(base)
            pid = read(os.path.join(directory, "pid"))
            assert store.ensure(base, port=0) == url  # already running: nothing happens
            assert read(os.path.join(directory, "pid")) == pid
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
            for name in ("seed.json", "client_secret", "port", "pid"):
                assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
            resolver = Resolver()
            got = {}
            for path, names in store.LAYOUT.items():
                secrets = resolver.resolve({
                    "url": url, "client_id": store.CLIENT_ID, "project_id": store.PROJECT_ID,
                    "client_secret": read(os.path.join(directory, "client_secret")),
                    "env": "prod", "path": path})
                assert sorted(secrets) == sorted(names)
                got.update(secrets)
            assert all(len(v) >= 12 for v in got.values())
            values.append(got)
        # random per lab: two labs share no value
        assert not set(values[0].values()) & set(values[1].values())
    finally:
        for base in bases:
            store.stop(base, quiet=True)
    for base in bases:
        assert store.running(store.state_dir(base)) is None


def test_an_older_seed_gains_new_paths_and_keeps_its_values(store, tmp_path):
    """A lab seeded before /minio joined LAYOUT: ensure() adds /minio, keeps every old
    value, and restarts the running store so it serves the new path."""
    base = str(tmp_path / "lab")
    directory = store.state_dir(base)
    full = dict(store.LAYOUT)
    store.LAYOUT = {path: names for path, names in full.items() if path != "/minio"}
    try:
        store.ensure(base, port=0)
        old_pid = read(os.path.join(directory, "pid"))
        store.LAYOUT = full
        url = store.ensure(base, port=0)
        assert read(os.path.join(directory, "pid")) != old_pid, "the store must reload its seed"
        assert stat.S_IMODE(os.stat(os.path.join(directory, "seed.json")).st_mode) == 0o600

        def resolve(path):
            return Resolver().resolve({
                "url": url, "client_id": store.CLIENT_ID, "project_id": store.PROJECT_ID,
                "client_secret": read(os.path.join(directory, "client_secret")),
                "env": "prod", "path": path})
        minio = resolve("/minio")
        assert sorted(minio) == ["MINIO_ROOT_PASSWORD", "MINIO_ROOT_USER"]
        assert len(minio["MINIO_ROOT_USER"]) >= 3 and len(minio["MINIO_ROOT_PASSWORD"]) >= 8
        before = resolve("/gitea")
        assert store.complete_seed(os.path.join(directory, "seed.json")) == []  # nothing more
        assert store.ensure(base, port=0) == url
        assert resolve("/gitea") == before
    finally:
        store.stop(base, quiet=True)
