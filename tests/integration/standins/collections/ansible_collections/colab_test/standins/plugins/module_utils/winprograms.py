# Test-only: what the programs the Windows tasks run answer on the simulated host.
"""Answers of wsl.exe, Docker Desktop's installer and CLI, and nvidia-smi.

Sources (tests/integration/standins/README.md has the full list):
- wsl.exe writes UTF-16LE unless WSL_UTF8=1: src/windows/common/WslClient.cpp@2.7.11
  (microsoft/WSL), which sets _O_U16TEXT. Texts transcribed from
  localization/strings/en-US/Resources.resw@2.7.11 (MessagePackageVersions,
  MessageDistroNameAlreadyExists, MessageErrorCode, MessageInstalling, MessageUpdateNotNeeded);
  the error code of a second `wsl --install -d <name>` from microsoft/WSL#12950.
- That wsl.exe must not run in the WinRM network logon (microsoft/WSL#9231, #9620) is not
  simulated (a module cannot see its logon type): a static test checks every wsl.exe and
  Docker CLI call goes through runas.
- docker CLI and `docker desktop` verbs: docs/content/manuals/desktop/features/desktop-cli.md;
  the --gpus=all benchmark output: features/gpu.md (docker/docs).
"""
from __future__ import annotations

import hashlib
import ntpath

WSL_STORE = "C:\\Program Files\\WSL\\wsl.exe"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Docker Desktop"

_WSL_VERSIONS = (
    "WSL version: {wsl}\r\nKernel version: 6.6.87.2-1\r\nWSLg version: 1.0.66\r\n"
    "MSRDC version: 1.2.6353\r\nDirect3D version: 1.611.1-81528511\r\n"
    "DXCore version: 10.0.26100.1-240331-1435.ge-release\r\nWindows version: 10.0.26100.4652\r\n"
)
_WSL_ALREADY_EXISTS = (
    "A distribution with the supplied name already exists. Use --name to chose a different name.\r\n"
    "Error code: Wsl/InstallDistro/Service/RegisterDistro/ERROR_ALREADY_EXISTS\r\n"
)
_WSL_INBOX_UNKNOWN = (
    "Invalid command line option: {opt}\r\n"
    "Usage: wsl.exe [Argument] [Options...] [CommandLine]\r\n"
)
_GPU_RUN = (
    "> Windowed mode\n> Simulation data stored in video memory\n"
    "> Single precision floating point simulation\n> 1 Devices used for simulation\n"
    "GPU Device 0: \"GeForce RTX 2060 with Max-Q Design\" with compute capability 7.5\n\n"
    "> Compute 7.5 CUDA device: [GeForce RTX 2060 with Max-Q Design]\n"
    "30720 bodies, total time for 10 iterations: 69.280 ms\n"
)


def _wsl_bytes(text):
    return text.encode("utf-16-le")


def decode(data, encoding):
    """Decode program output the way win_command does: the console code page, or the override."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if encoding:
        name = encoding.lower().replace("_", "-")
        if name in ("utf-16", "utf-16le", "utf-16-le", "unicode"):
            return data.decode("utf-16-le")
        return data.decode(name)
    return data.decode("cp437")


def run(host, argv, check_mode):
    """Return (rc, stdout_bytes, stderr_bytes) of argv on the simulated host."""
    exe = argv[0]
    base = ntpath.basename(exe).lower()
    if base == "wsl.exe":
        return _wsl(host, exe, argv[1:], check_mode)
    if base.startswith("dockerdesktopinstaller"):
        return _installer(host, exe, argv[1:], check_mode)
    if base == "docker.exe":
        if not host.exists(exe):
            return 2, b"", b"The system cannot find the file specified.\r\n"
        return _docker(host, argv[1:], check_mode)
    if base == "nvidia-smi.exe":
        gpu = host.state.get("gpu")
        if not gpu:
            return 9, b"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\r\n", b""
        return 0, ("%s, %s\r\n" % (gpu["name"], gpu["driver"])).encode(), b""
    return 2, b"", ("%s: The system cannot find the file specified.\r\n" % exe).encode()


def _wsl(host, exe, args, check_mode):
    wsl = host.state.setdefault("wsl", {})
    store = wsl.get("store_version")
    if exe.lower() == WSL_STORE.lower():
        if not store:
            return 2, b"", b"The system cannot find the file specified.\r\n"
    if args == ["--version"]:
        if not store:
            return -1, _wsl_bytes(_WSL_INBOX_UNKNOWN.format(opt="--version")), b""
        return 0, _wsl_bytes(_WSL_VERSIONS.format(wsl=store)), b""
    # `wsl --update [--web-download]`: --web-download takes the update from GitHub instead of the
    # Microsoft Store (Resources.resw@2.7.11 MessageUsage), which a runas logon may not reach
    if args[:1] == ["--update"] and set(args[1:]) <= {"--web-download"}:
        latest = wsl.get("latest", "2.6.1.0")
        if store == latest:
            return 0, _wsl_bytes("Checking for updates.\r\n"
                                 "The most recent version of Windows Subsystem for Linux is already installed.\r\n"), b""
        if not check_mode:
            wsl["store_version"] = latest
            host.put(WSL_STORE, kind="file")
        host.event("wsl-update", to=latest, web_download="--web-download" in args)
        return 0, _wsl_bytes("Installing: Windows Subsystem for Linux\r\n"
                             "Windows Subsystem for Linux has been installed.\r\n"), b""
    if args[:1] == ["--install"]:
        name = args[args.index("-d") + 1] if "-d" in args else "Ubuntu"
        distros = wsl.setdefault("distributions", [])
        if name in distros:
            return -1, _wsl_bytes(_WSL_ALREADY_EXISTS), b""
        if not check_mode:
            distros.append(name)
        return 0, _wsl_bytes("Downloading: %s\r\nInstalling: %s\r\n" % (name, name)), b""
    if args[:1] == ["--set-default-version"]:
        return 0, _wsl_bytes("For information on key differences with WSL 2 please visit https://aka.ms/wsl2\r\n"), b""
    return -1, _wsl_bytes(_WSL_INBOX_UNKNOWN.format(opt=" ".join(args))), b""


def _installer(host, exe, args, check_mode):
    entry = host.get(exe)
    if entry is None:
        return 2, b"", ("%s: The system cannot find the file specified.\r\n" % exe).encode()
    if args[:1] != ["install"]:
        return 1, b"", b"unknown verb\r\n"
    install_dir = "C:\\Program Files\\Docker\\Docker"
    for arg in args:
        if arg.startswith("--installation-dir="):
            install_dir = arg.split("=", 1)[1]
    if not check_mode:
        host.registry(UNINSTALL)["DisplayVersion"] = entry["version"]
        host.put(install_dir + "\\Docker Desktop.exe", kind="file")
        host.put(install_dir + "\\resources\\bin\\docker.exe", kind="file")
        host.state.setdefault("groups", {}).setdefault("docker-users", [])
    host.event("desktop-install", version=entry["version"], args=args)
    return 0, b"", b""


def _docker(host, args, check_mode):
    desktop = host.state.setdefault("desktop", {"running": False, "restarts": 0, "starts": 0})
    if args[:2] == ["desktop", "start"]:
        if not check_mode:
            desktop["running"] = True
            desktop["starts"] += 1
        return 0, b"", b""
    if args[:2] == ["desktop", "restart"]:
        if not check_mode:
            desktop["running"] = True
            desktop["restarts"] += 1
        return 0, b"", b""
    if not desktop.get("running"):
        return 1, b"", (b"error during connect: this error may indicate that the docker daemon is not running: "
                        b"open //./pipe/dockerDesktopLinuxEngine: The system cannot find the file specified.\r\n")
    if args[:1] == ["version"]:
        return 0, b"29.1.3\r\n", b""
    if args[:3] == ["compose", "version", "--short"]:
        return 0, (host.state.get("compose", "2.40.3-desktop.1") + "\r\n").encode(), b""
    networks = host.state.setdefault("networks", {})
    if args[:2] == ["network", "inspect"]:
        name = args[-1]
        if name in networks:
            return 0, (name + "\r\n").encode(), b""
        return 1, b"[]\r\n", ("Error response from daemon: network %s not found\r\n" % name).encode()
    if args[:2] == ["network", "create"]:
        if not check_mode:
            networks[args[-1]] = args[2:-1]
        return 0, hashlib.sha256(args[-1].encode()).hexdigest().encode() + b"\r\n", b""
    images = host.state.setdefault("images", [])
    if args[:2] == ["image", "inspect"]:
        if args[-1] in images:
            return 0, b"sha256:" + hashlib.sha256(args[-1].encode()).hexdigest().encode() + b"\r\n", b""
        return 1, b"[]\r\n", ("Error: No such image: %s\r\n" % args[-1]).encode()
    if args[:1] == ["run"]:
        image = next(a for a in args[1:] if not a.startswith("-"))
        if image not in images and "--pull=never" in args:
            return 125, b"", ("docker: Error response from daemon: No such image: %s\r\n" % image).encode()
        if "--gpus=all" in args and host.state.get("gpu"):
            return 0, _GPU_RUN.encode(), b""
        return 1, b"", b"Error: only 0 Devices available, 1 requested.  Exiting.\r\n"
    return 1, b"", ("unknown docker command: %s\r\n" % " ".join(args)).encode()
