# Copyright: (c) 2026, colab.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight report: one table per host, and the list of failures (one place for both)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def _rows(hostvars, host):
    try:
        rows = hostvars[host].get("_preflight_rows")
    except KeyError as exc:
        raise AnsibleFilterError(f"preflight: no such host {host!r}") from exc
    if rows is None:
        return [{"check": "connection", "status": "fail",
                 "detail": "no result (the host failed or was unreachable before its checks)"}]
    return rows


def preflight_report(hosts, hostvars):
    """Text lines: a table per host (status, check, detail), failures first."""
    lines = []
    order = {"fail": 0, "warn": 1, "ok": 2}
    for host in hosts:
        rows = sorted(_rows(hostvars, host), key=lambda r: order.get(r.get("status"), 3))
        bad = sum(1 for r in rows if r.get("status") == "fail")
        lines.append(f"{host}: {bad} problem(s)" if bad else f"{host}: ready")
        width = max((len(str(r.get("check", ""))) for r in rows), default=0)
        for row in rows:
            mark = _MARK.get(row.get("status"), "?")
            lines.append(f"  {mark:<4}  {str(row.get('check', '')):<{width}}  {row.get('detail', '')}")
    return lines


def preflight_failures(hosts, hostvars):
    """One string per failed row: '<host> <check>: <detail>'."""
    return [f"{host} {row.get('check')}: {row.get('detail')}"
            for host in hosts for row in _rows(hostvars, host) if row.get("status") == "fail"]


class FilterModule:
    def filters(self):
        return {"preflight_report": preflight_report, "preflight_failures": preflight_failures}
