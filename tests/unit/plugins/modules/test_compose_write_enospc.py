"""compose_stack's definition write on a full filesystem (issue 17.1, "project directory
full"): the kernel's own ENOSPC from /dev/full, never a simulated exception class."""
from __future__ import annotations

import os

import pytest

from ansible_collections.colab.cluster.plugins.module_utils import _compose as c


class _Module:
    check_mode = False

    @staticmethod
    def atomic_move(src, dest):
        os.replace(src, dest)


class _Stack:
    module = _Module()
    _write_file = c.ComposeStack._write_file


def _full_disk(monkeypatch):
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), mode, *args, **kwargs)

    monkeypatch.setattr(c.os, "fdopen", fdopen)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("after_apply,then", [(False, "nothing was applied"), (True, "record was not updated")])
def test_full_filesystem_fails_naming_path_and_enospc_and_keeps_the_old_file(
        tmp_path, monkeypatch, after_apply, then):
    path = tmp_path / "compose.yaml"
    path.write_text('{"services": {"old": {}}}\n')
    _full_disk(monkeypatch)
    with pytest.raises(c.ComposeError) as exc:
        _Stack()._write_file(str(path), '{"services": {"new": {}}}\n' * 100, 0o644, after_apply=after_apply)
    msg = str(exc.value)
    assert str(path) in msg and "ENOSPC" in msg and "No space left on device" in msg and then in msg, msg
    assert exc.value.details == {"path": str(path), "errno": "ENOSPC"}
    assert path.read_text() == '{"services": {"old": {}}}\n'  # not truncated, not replaced
    assert sorted(os.listdir(tmp_path)) == ["compose.yaml"]  # no temporary file left behind
