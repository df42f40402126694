"""Upstream Go programs the lab runs, built from their modules and packaged as .deb files.

    python3 lab/gobuild.py deb headscale [--version 0.29.3] [--arch amd64|arm64]
    python3 lab/gobuild.py deb tailscale [--version 1.104.7] [--arch amd64|arm64]
    python3 lab/gobuild.py all [--arch amd64]      # every version the lab and molecule use
    python3 lab/gobuild.py path NAME VERSION ARCH  # where the .deb is (built or not)
    python3 lab/gobuild.py fallback-servers        # tailscaled's bootstrap-DNS addresses
    python3 lab/gobuild.py compose-plugin [--version 5.6.0] DEST_DIR  # DEST_DIR/docker-compose

A build is `CGO_ENABLED=0 GOBIN=... go install MODULE/cmd/NAME@vVERSION` (a build of an
upstream dependency, like a package install: no upstream source is copied into this
project). The package holds the same files, in the same places, as the upstream release
package, taken from the downloaded module at build time:
  headscale: the nfpms section of .goreleaser.yml (headscale@v0.29.3): /usr/bin/headscale,
    packaging/systemd/headscale.service -> /usr/lib/systemd/system/, config-example.yaml ->
    /etc/headscale/config.yaml (a conffile), /var/lib/headscale, packaging/deb/{postinst,
    prerm,postrm} as the maintainer scripts. File name: headscale_<v>_linux_<arch>.deb.
  tailscale: release/dist/unixpkgs/pkgs.go (tailscale.com@v1.102.5): /usr/bin/tailscale,
    /usr/sbin/tailscaled, cmd/tailscaled/{tailscaled.service, tailscale-online.target,
    tailscale-wait-online.service} -> /lib/systemd/system/, tailscaled.defaults ->
    /etc/default/tailscaled (a conffile), release/deb/debian.{postinst,prerm,postrm}.sh,
    Depends: iptables. File name: tailscale_<v>_<arch>.deb.
The roles install them through their local-package path (headscale_package_src,
tailscale_package_src): the same install tasks as production, another package source.
  compose: Compose v5's CLI plugin, the one binary Docker's packages put in
    /usr/libexec/docker/cli-plugins/docker-compose, for compose_stack's version matrix
    (tests/integration/test_compose_stack_versions.py), not packaged. Its go.mod has exclude
    directives, so `go install` refuses it: it is built in a throwaway module (a temporary
    directory, never kept) that requires github.com/docker/compose/v5 at the pin, with the
    upstream's exclude/replace directives copied (they apply in the main module only), then
    `go build ./cmd` of it as compose's Makefile does (-trimpath, -X internal.Version=v<v>:
    Makefile@v5.6.0 GO_LDFLAGS; `version --short` prints it without the "v",
    cmd/compose/version.go@v5.6.0 runVersion).

Cache (outside the work tree, per machine): $COLAB_CACHE_DIR or
${XDG_CACHE_HOME:-~/.cache}/colab-cluster/<recipe>/go/<name>-<version>-<arch>/ (binaries)
and .../<recipe>/debs/<file>.deb. A second call finds the .deb and builds nothing. A module whose go.mod
asks for a newer Go than the machine's gets that toolchain from the Go proxy
(GOTOOLCHAIN=go<version>, the go directive of its go.mod).
Standard library only, like lab/lab.py.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The versions the roles pin come from their defaults; the upgrade path's older minor is
# built for molecule/mesh (pinned minor - 1 -> pinned, roles/headscale/tasks/upgrade.yml).
PROGRAMS = {
    "headscale": {
        "module": "github.com/juanfont/headscale",
        "cmds": ["cmd/headscale"],
        "defaults": os.path.join(ROOT, "roles", "headscale", "defaults", "main.yml"),
        "var": "headscale_version",
    },
    "tailscale": {
        "module": "tailscale.com",
        "cmds": ["cmd/tailscale", "cmd/tailscaled"],
        "defaults": os.path.join(ROOT, "roles", "tailscale", "defaults", "main.yml"),
        "var": "tailscale_version",
        # The version stamps tailscale's own release build sets (build_dist.sh@v1.102.5:
        # -X tailscale.com/version.longStamp / shortStamp): without them `tailscale version`
        # of a module build prints "<v>-ERR-BuildInfo" (version/version.go@v1.102.5).
        "ldflags": "-X tailscale.com/version.longStamp={v} -X tailscale.com/version.shortStamp={v}",
    },
    "compose": {
        "module": "github.com/docker/compose/v5",
        "cmds": ["cmd"],
        "binaries": ["docker-compose"],
        # compose_stack's version matrix pins it here (no role installs Compose v5).
        "version": "5.6.0",
        "ldflags": "-X github.com/docker/compose/v5/internal.Version=v{v}",
        "throwaway_module": True,
    },
}
# The programs packaged as .debs for the lab (`all`); compose is a CLI plugin only.
DEB_PROGRAMS = ("headscale", "tailscale")
# Bumped whenever the way a program is built or packaged changes: cached builds of an older
# recipe are not reused (they live in another directory).
RECIPE = "r2"
# Older headscale the upgrade scenario starts from (one minor below the pin).
HEADSCALE_UPGRADE_FROM = "0.28.0"
BUILD_TIMEOUT = 3600


def log(msg):
    print(f"gobuild: {msg}", file=sys.stderr, flush=True)


def cache_dir():
    base = os.environ.get("COLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "colab-cluster")
    return base


def pinned(name):
    spec = PROGRAMS[name]
    if spec.get("version"):
        return spec["version"]
    with open(spec["defaults"], encoding="utf-8") as handle:
        for line in handle:
            match = re.match(rf'^{spec["var"]}:\s*"?([0-9][^"\s]*)"?\s*$', line)
            if match:
                return match.group(1)
    raise SystemExit(f"gobuild: {spec['var']} not found in {spec['defaults']}")


def deb_name(name, version, arch):
    if name == "headscale":
        return f"headscale_{version}_linux_{arch}.deb"
    return f"tailscale_{version}_{arch}.deb"


def deb_path(name, version, arch):
    return os.path.join(cache_dir(), RECIPE, "debs", deb_name(name, version, arch))


def _go_env(extra=None):
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})
    env.update(extra or {})
    return env


def _go(args, env, timeout=BUILD_TIMEOUT):
    if not shutil.which("go"):
        raise SystemExit("gobuild: no `go` on PATH: the lab's mesh binaries are built with Go "
                         "(ENVIRONMENT.md: Go 1.26 and the Go module proxy)")
    proc = subprocess.run(["go"] + args, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"gobuild: go {' '.join(args)} failed (rc={proc.returncode}):\n"
                         f"{proc.stderr.strip()[-3000:]}")
    return proc.stdout


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def toolchain_for(gomod_path):
    """GOTOOLCHAIN for a module: the machine's Go unless its go.mod asks for a newer one."""
    wanted = ""
    with open(gomod_path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", line)
            if match:
                wanted = match.group(1)
    local = _go(["env", "GOVERSION"], _go_env({"GOTOOLCHAIN": "local"})).strip()
    if wanted and _version_tuple(wanted) > _version_tuple(local):
        return f"go{wanted}"
    return "local"


def download(module, version):
    """The module's source in the module cache (read-only), and the toolchain it needs."""
    env = _go_env({"GOTOOLCHAIN": "local"})
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@v{version}"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    data = json.loads(proc.stdout or "{}")
    toolchain = toolchain_for(data["GoMod"]) if data.get("GoMod") else "local"
    if not data.get("Dir"):
        # `go mod download` refuses to unpack a module that needs a newer Go: again with it.
        env = _go_env({"GOTOOLCHAIN": toolchain})
        data = json.loads(_go(["mod", "download", "-json", f"{module}@v{version}"], env))
    if not data.get("Dir"):
        raise SystemExit(f"gobuild: {module}@v{version}: {data.get('Error', 'no module directory')}")
    return data["Dir"], toolchain


def fallback_servers(version):
    """The addresses tailscaled may try for bootstrap DNS, from its own module at `version`.

    When a dial to the control URL fails and the name's DNS never worked in that dialer,
    tailscaled asks `https://derpN.tailscale.com/bootstrap-dns` at these fixed addresses
    (net/dnscache/dnscache.go, shouldTryBootstrap; net/dnsfallback/dnsfallback.go, lookup:
    the static map is always merged in, whatever the control server's DERP map says), and
    no flag or environment knob turns that off (tailscale.com@v1.102.5). The lab makes them
    unreachable in its nodes (lab/lab.py, the DERP guard). Sorted, IPv4 then IPv6.
    """
    source, _toolchain = download(PROGRAMS["tailscale"]["module"], version)
    path = os.path.join(source, "net", "dnsfallback", "dns-fallback-servers.json")
    with open(path, encoding="utf-8") as handle:
        derp_map = json.load(handle)
    found = {"IPv4": set(), "IPv6": set()}
    for region in (derp_map.get("Regions") or {}).values():
        for node in region.get("Nodes") or []:
            for family, seen in found.items():
                if node.get(family):
                    seen.add(node[family])
    if not found["IPv4"]:
        raise SystemExit(f"gobuild: no IPv4 address in {path}: the DERP guard would guard nothing")
    return sorted(found["IPv4"]) + sorted(found["IPv6"])


def throwaway_gomod(module, version, upstream_gomod):
    """go.mod of a module that only requires MODULE@vVERSION, with the upstream go.mod's go line
    and its exclude and replace directives: Go applies those in the main module only (Go modules
    reference, "exclude directive" / "replace directive"), so they are copied to give the build
    the upstream's own build list. A replace by a local path cannot be followed from here."""
    lines = ["module colab.invalid/gobuild", ""]
    keep, block = [], None
    for line in upstream_gomod.splitlines():
        stripped = line.split("//", 1)[0].strip()
        if block:
            if stripped == ")":
                keep.append(")")
                block = None
            elif stripped:
                keep.append(f"\t{stripped}")
                if block == "replace" and re.search(r"=>\s*\.{0,2}/", stripped):
                    raise SystemExit(f"gobuild: {module}@v{version} replaces by a local path "
                                     f"({stripped}): it cannot be built from its module")
            continue
        match = re.match(r"^(go|exclude|replace)\s+(.*)$", stripped)
        if not match:
            continue
        if match.group(1) == "go":
            lines.insert(1, f"go {match.group(2)}")
            lines.insert(1, "")
        elif match.group(2) == "(":
            block = match.group(1)
            keep.append(f"{block} (")
        else:
            if match.group(1) == "replace" and re.search(r"=>\s*\.{0,2}/", match.group(2)):
                raise SystemExit(f"gobuild: {module}@v{version} replaces by a local path "
                                 f"({match.group(2)}): it cannot be built from its module")
            keep.append(stripped)
    lines += [f"require {module} v{version}", ""] + keep
    return "\n".join(lines).rstrip("\n") + "\n"


def _build_in_throwaway_module(spec, version, env, ldflags, work, tmp):
    """`go build` of each cmd package of spec's module inside a throwaway module (see
    throwaway_gomod): for a module `go install X@v` refuses (exclude/replace in its go.mod)."""
    module = spec["module"]
    with open(os.path.join(work, "go.mod"), "w", encoding="utf-8") as handle:
        with open(_mod_file(module, version), encoding="utf-8") as upstream:
            handle.write(throwaway_gomod(module, version, upstream.read()))
    env = dict(env, GOFLAGS=env["GOFLAGS"] + " -mod=mod")
    for cmd, binary in zip(spec["cmds"], _binaries(spec)):
        package = f"{module}/{cmd}"
        _go(["-C", work, "get", f"{package}@v{version}"], env)
        _go(["-C", work, "build", "-trimpath", f"-ldflags={ldflags}", "-o",
             os.path.join(tmp, binary), package], env)


def _mod_file(module, version):
    env = _go_env({"GOTOOLCHAIN": "local"})
    data = json.loads(_go(["mod", "download", "-json", f"{module}@v{version}"], env))
    return data["GoMod"]


def _binaries(spec):
    return spec.get("binaries") or [os.path.basename(cmd) for cmd in spec["cmds"]]


def build_binaries(name, version, arch):
    spec = PROGRAMS[name]
    out = os.path.join(cache_dir(), RECIPE, "go", f"{name}-{version}-{arch}")
    ldflags = " ".join(["-s", "-w", spec.get("ldflags", "").format(v=version)]).strip()
    wanted = _binaries(spec)
    srcdir, toolchain = download(spec["module"], version)
    if all(os.path.exists(os.path.join(out, binary)) for binary in wanted):
        return out, srcdir
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    env = _go_env({"GOTOOLCHAIN": toolchain, "GOOS": "linux", "GOARCH": arch})
    started = time.monotonic()
    # `go install MODULE/cmd/X@vV` (neither headscale's nor tailscale's go.mod has replace or
    # exclude directives, which it would refuse). GOBIN cannot be set when cross-compiling:
    # then it installs into a throwaway GOPATH's bin/linux_<arch>/, moved from there.
    gomodcache = _go(["env", "GOMODCACHE"], _go_env({"GOTOOLCHAIN": "local"})).strip()
    # `go install X@v` also asks the proxy for the module's version list (its deprecation
    # check), which proxy.golang.org refuses for headscale (403 on @v/list): the module cache,
    # which holds the version just downloaded, answers that first (a file:// GOPROXY entry).
    upstream = _go(["env", "GOPROXY"], _go_env({"GOTOOLCHAIN": "local"})).strip()
    env["GOPROXY"] = f"file://{gomodcache}/cache/download,{upstream}"
    with tempfile.TemporaryDirectory() as work:
        if spec.get("throwaway_module"):
            _build_in_throwaway_module(spec, version, env, ldflags, work, tmp)
        for cmd, binary in zip([] if spec.get("throwaway_module") else spec["cmds"], wanted):
            target = f"{spec['module']}/{cmd}@v{version}"
            if arch == host_arch():
                _go(["install", "-trimpath", f"-ldflags={ldflags}", target], dict(env, GOBIN=tmp))
            else:
                _go(["install", "-trimpath", f"-ldflags={ldflags}", target],
                    dict(env, GOBIN="", GOPATH=os.path.join(work, "gopath"), GOMODCACHE=gomodcache))
                shutil.move(os.path.join(work, "gopath", "bin", f"linux_{arch}", binary),
                            os.path.join(tmp, binary))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    log(f"built {name} {version} {arch} ({', '.join(wanted)}) in {time.monotonic() - started:.0f} s "
        f"with GOTOOLCHAIN={toolchain}")
    return out, srcdir


def host_arch():
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _put(root, src, dst, mode):
    target = os.path.join(root, dst.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(src, target)
    os.chmod(target, mode)


def _require(path, what):
    if not os.path.exists(path):
        raise SystemExit(f"gobuild: {what} not found at {path}: this version's release layout "
                         "differs from the one lab/gobuild.py follows")
    return path


def package(name, version, arch):
    path = deb_path(name, version, arch)
    if os.path.exists(path):
        return path
    bindir, src = build_binaries(name, version, arch)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory() as root:
        debian = os.path.join(root, "DEBIAN")
        os.makedirs(debian)
        conffiles = []
        depends = ""
        if name == "headscale":
            _put(root, os.path.join(bindir, "headscale"), "/usr/bin/headscale", 0o755)
            _put(root, _require(os.path.join(src, "packaging", "systemd", "headscale.service"),
                                "the systemd unit"),
                 "/usr/lib/systemd/system/headscale.service", 0o644)
            _put(root, _require(os.path.join(src, "config-example.yaml"), "the example config"),
                 "/etc/headscale/config.yaml", 0o644)
            conffiles.append("/etc/headscale/config.yaml")
            os.makedirs(os.path.join(root, "var", "lib", "headscale"))
            _put(root, os.path.join(src, "LICENSE"), "/usr/share/doc/headscale/copyright", 0o644)
            for script in ("postinst", "prerm", "postrm"):
                _put(root, _require(os.path.join(src, "packaging", "deb", script), script),
                     f"/DEBIAN/{script}", 0o755)
            description = "Open source implementation of the Tailscale control server."
            description += " (built from its Go module by colab.cluster lab/gobuild.py)"
        else:
            tsd = os.path.join(src, "cmd", "tailscaled")
            _put(root, os.path.join(bindir, "tailscale"), "/usr/bin/tailscale", 0o755)
            _put(root, os.path.join(bindir, "tailscaled"), "/usr/sbin/tailscaled", 0o755)
            for unit in ("tailscaled.service", "tailscale-online.target",
                         "tailscale-wait-online.service"):
                if unit == "tailscaled.service" or os.path.exists(os.path.join(tsd, unit)):
                    _put(root, _require(os.path.join(tsd, unit), unit),
                         f"/lib/systemd/system/{unit}", 0o644)
            _put(root, _require(os.path.join(tsd, "tailscaled.defaults"), "tailscaled.defaults"),
                 "/etc/default/tailscaled", 0o644)
            conffiles.append("/etc/default/tailscaled")
            for script in ("postinst", "prerm", "postrm"):
                _put(root, _require(os.path.join(src, "release", "deb", f"debian.{script}.sh"),
                                    script), f"/DEBIAN/{script}", 0o755)
            depends = "Depends: iptables\n"
            description = "The easiest, most secure, cross platform way to use WireGuard + " \
                          "oauth2 + 2FA/SSO (built from its Go module by colab.cluster lab/gobuild.py)"
        with open(os.path.join(debian, "control"), "w", encoding="utf-8") as handle:
            handle.write(f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
                         "Maintainer: colab.cluster lab <noreply@example.invalid>\n"
                         f"Section: net\nPriority: optional\n{depends}"
                         f"Description: {description}\n")
        with open(os.path.join(debian, "conffiles"), "w", encoding="utf-8") as handle:
            handle.write("".join(f"{item}\n" for item in conffiles))
        tmp = path + ".tmp"
        proc = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, tmp],
                              capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"gobuild: dpkg-deb failed: {proc.stderr.strip()}")
        os.rename(tmp, path)
    log(f"packaged {path}")
    return path


def cli_plugin(version, dest_dir, arch=None):
    """Compose's CLI plugin at ``version``, built once (cached like the others) and copied to
    DEST_DIR/docker-compose (a DOCKER_CONFIG's cli-plugins/), replaced atomically; its path."""
    bindir, _src = build_binaries("compose", version, arch or host_arch())
    os.makedirs(dest_dir, exist_ok=True)
    target = os.path.join(dest_dir, "docker-compose")
    shutil.copyfile(os.path.join(bindir, "docker-compose"), target + ".new")
    os.chmod(target + ".new", 0o755)
    os.replace(target + ".new", target)
    return target


def wanted_versions(name):
    if name == "headscale":
        return [pinned("headscale"), HEADSCALE_UPGRADE_FROM]
    return [pinned("tailscale")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("deb")
    one.add_argument("name", choices=DEB_PROGRAMS)
    one.add_argument("--version", default="")
    one.add_argument("--arch", default=host_arch())
    every = sub.add_parser("all")
    every.add_argument("--arch", default=host_arch())
    where = sub.add_parser("path")
    where.add_argument("name", choices=DEB_PROGRAMS)
    where.add_argument("version")
    where.add_argument("arch")
    sub.add_parser("pinned")
    fallback = sub.add_parser("fallback-servers")
    fallback.add_argument("--version", default="")
    plugin = sub.add_parser("compose-plugin")
    plugin.add_argument("--version", default="")
    plugin.add_argument("--arch", default=host_arch())
    plugin.add_argument("dest_dir")
    args = parser.parse_args(argv)
    if args.cmd == "deb":
        print(package(args.name, args.version or pinned(args.name), args.arch))
    elif args.cmd == "all":
        for name in DEB_PROGRAMS:
            for version in wanted_versions(name):
                print(package(name, version, args.arch))
    elif args.cmd == "path":
        print(deb_path(args.name, args.version, args.arch))
    elif args.cmd == "compose-plugin":
        print(cli_plugin(args.version or pinned("compose"), args.dest_dir, args.arch))
    elif args.cmd == "fallback-servers":
        print("\n".join(fallback_servers(args.version or pinned("tailscale"))))
    else:
        print(json.dumps({name: pinned(name) for name in PROGRAMS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
