"""The wsl_version filter on wsl.exe's answers (texts transcribed from microsoft/WSL
localization/strings/en-US/Resources.resw@2.7.11, MessagePackageVersions; the Korean
labels from microsoft/WSL#12950). wsl.exe writes UTF-16LE (WslClient.cpp@2.7.11)."""
from __future__ import annotations

import pytest

from ansible_collections.colab.cluster.plugins.filter.wsl_version import wsl_version

ENGLISH = ("WSL version: 2.1.5.0\r\nKernel version: 5.15.146.1-2\r\nWSLg version: 1.0.60\r\n"
           "MSRDC version: 1.2.5105\r\nDirect3D version: 1.611.1-81528511\r\n"
           "DXCore version: 10.0.25131.1002-220531-1700.rs-onecore-base2-hyp\r\nWindows version: 10.0.22631.3155\r\n")
KOREAN = "WSL 버전: 2.4.13.0\r\n커널 버전: 5.15.167.4-1\r\n"


def as_console_codepage(text):
    """UTF-16LE bytes read with an OEM code page, as win_command does without an override."""
    return text.encode("utf-16-le").decode("cp437")


@pytest.mark.parametrize("text,expected", [
    (ENGLISH, "2.1.5.0"),
    (KOREAN, "2.4.13.0"),
    ("\ufeff" + ENGLISH, "2.1.5.0"),
    (as_console_codepage(ENGLISH), "2.1.5.0"),
    ("Invalid command line option: --version\r\nUsage: wsl.exe [Argument]\r\n", ""),
    ("", ""),
])
def test_reads_the_first_line(text, expected):
    assert wsl_version(text) == expected


def test_a_failed_or_skipped_command_has_no_version():
    assert wsl_version({"rc": -1, "stdout": ENGLISH}) == ""
    assert wsl_version({"skipped": True}) == ""
    assert wsl_version({"rc": 0, "stdout": ENGLISH}) == "2.1.5.0"


def test_utf16_read_with_the_console_code_page_defeats_a_plain_substring_check():
    """Why the removed wsl_engine task's changed_when ('already installed' not in stdout) never matched."""
    garbled = as_console_codepage("Ubuntu is already installed.\r\n")
    assert "already installed" not in garbled
    assert "already installed" in garbled.replace("\x00", "")
