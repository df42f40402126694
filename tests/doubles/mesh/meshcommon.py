"""Shared by the mesh doubles: the local socket a daemon holds (and the probe of it that
every CLI call makes first), and a reader of the YAML subset that Ansible's ``to_nice_yaml`` writes (block mappings and
sequences, plain/quoted scalars, ``[]``/``{}``/``[a, b]`` flow forms), with the standard
library only: the containers the double runs in have no PyYAML.

A document outside that subset raises ``ValueError`` naming the line, the way headscale's
viper loader refuses a config it cannot parse.
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading

_INT = re.compile(r"^-?[0-9]+$")


def _scalar(text):
    text = text.strip()
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"'):
        return json.loads(text)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [] if not inner else [_scalar(part) for part in _split_flow(inner)]
    if text == "{}":
        return {}
    return text


def _split_flow(text):
    parts, depth, current, quote = [], 0, "", None
    for char in text:
        if quote:
            current += char
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def _split_key(text, number):
    # a key never contains ": " in what to_nice_yaml writes, except quoted keys
    if text.startswith(("'", '"')):
        end = text.index(text[0], 1)
        return _scalar(text[: end + 1]), text[end + 1:].lstrip()[1:]
    if ":" not in text:
        raise ValueError(f"line {number}: expected 'key: value', got {text!r}")
    key, _sep, rest = text.partition(":")
    if rest and not rest.startswith(" "):
        raise ValueError(f"line {number}: expected 'key: value', got {text!r}")
    return key.strip(), rest


def loads(text):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip(), number))
    value, index = _block(lines, 0, lines[0][0] if lines else 0)
    if index != len(lines):
        raise ValueError(f"line {lines[index][2]}: unexpected indentation")
    return value


def _block(lines, index, indent):
    if index >= len(lines):
        return None, index
    if lines[index][1].startswith("- ") or lines[index][1] == "-":
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _value_after(lines, index, rest, indent, number):
    rest = rest.strip()
    if rest:
        return _scalar(rest), index + 1
    if index + 1 < len(lines) and (lines[index + 1][0] > indent or (
            lines[index + 1][0] == indent and lines[index + 1][1].startswith("- "))):
        return _block(lines, index + 1, lines[index + 1][0])
    return None, index + 1


def _mapping(lines, index, indent):
    result = {}
    while index < len(lines) and lines[index][0] == indent and not lines[index][1].startswith("- "):
        _ind, text, number = lines[index]
        key, rest = _split_key(text, number)
        result[key], index = _value_after(lines, index, rest, indent, number)
    return result, index


def _sequence(lines, index, indent):
    result = []
    while index < len(lines) and lines[index][0] == indent and (
            lines[index][1].startswith("- ") or lines[index][1] == "-"):
        _ind, text, number = lines[index]
        item = text[2:] if text != "-" else ""
        if item and (":" in item and not item.startswith(("'", '"', "[", "{"))
                     and re.match(r"^[^:]+:( |$)", item)):
            # a mapping item: its first key is on the dash line
            sub_indent = indent + 2
            lines[index] = (sub_indent, item, number)
            value, index = _mapping(lines, index, sub_indent)
            result.append(value)
        else:
            value, index = _value_after(lines, index, item, indent, number)
            result.append(value)
    return result, index


def listen_unix(path, background=False):
    """Hold a daemon's local socket at ``path``; each connection is accepted and closed
    (the CLI doubles only probe it: the real CLIs talk gRPC/HTTP over it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)

    def loop():
        while True:
            conn, _addr = server.accept()
            conn.close()

    if background:
        threading.Thread(target=loop, daemon=True).start()
        return
    loop()


def socket_answers(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()
