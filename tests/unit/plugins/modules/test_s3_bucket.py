"""s3_bucket's decisions (plugins/modules/s3_bucket.py) against an in-memory client.

Real S3 traffic is in tests/integration/test_minio_role.py; here only which requests the
module decides to send, in normal and check mode.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.colab.cluster.plugins.modules import s3_bucket


class FakeClient:
    def __init__(self, buckets=None):
        self.buckets = dict(buckets or {})  # name -> versioning status ('' never set)
        self.writes = []

    def bucket_exists(self, name):
        return name in self.buckets

    def get_versioning(self, name):
        return self.buckets[name]

    def create_bucket(self, name):
        self.writes.append(("create", name))
        self.buckets[name] = ""

    def delete_bucket(self, name):
        self.writes.append(("delete", name))
        del self.buckets[name]

    def put_versioning(self, name, enabled):
        self.writes.append(("versioning", name, enabled))
        self.buckets[name] = "Enabled" if enabled else "Suspended"


def _run(client, check=False, **params):
    p = {"name": "backups", "state": "present", "versioning": None}
    p.update(params)
    module = SimpleNamespace(params=p, check_mode=check, _diff=True)
    return s3_bucket.Bucket(module, client).run()


def test_check_then_apply_then_idempotent():
    client = FakeClient()
    check = _run(client, check=True, versioning=True)
    assert check["changed"] and check["exists"] and check["versioning"] == "Enabled"
    assert client.writes == []
    first = _run(client, versioning=True)
    assert first["changed"] and client.writes == [("create", "backups"), ("versioning", "backups", True)]
    assert first["diff"] == {"before": {"exists": False, "versioning": None},
                             "after": {"exists": True, "versioning": "Enabled"}}
    client.writes.clear()
    assert not _run(client, check=True, versioning=True)["changed"]
    assert not _run(client, versioning=True)["changed"]
    assert client.writes == []


def test_unset_versioning_is_not_read_nor_written():
    client = FakeClient({"backups": "Enabled"})
    result = _run(client)
    assert not result["changed"] and result["versioning"] is None and client.writes == []


@pytest.mark.parametrize("status,changed", [("", False), ("Enabled", True), ("Suspended", False)])
def test_suspend(status, changed):
    client = FakeClient({"backups": status})
    assert _run(client, versioning=False)["changed"] is changed


def test_absent_deletes_only_what_exists():
    client = FakeClient({"backups": ""})
    assert _run(client, check=True, state="absent")["changed"] and client.writes == []
    assert _run(client, state="absent")["changed"] and client.writes == [("delete", "backups")]
    assert not _run(client, state="absent")["changed"]
