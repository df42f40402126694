#!/usr/bin/env bash
# ansible-test sanity for this collection, on this machine (no --docker: no images).
#
# ansible-test must run from a path ending in ansible_collections/colab/cluster, so the
# collection's files (what git tracks plus what it would track) are copied to a
# temporary tree first. ansible-test bootstraps pip in its per-test virtualenvs with a
# script it downloads from a host these machines cannot reach; it uses
# ~/.ansible/test/cache/get_pip_<version>.py instead when that file exists, so we put a
# small stand-in there that bootstraps pip from the interpreter's own ensurepip and
# then installs the requested pip version from PyPI.
# Extra arguments go to ansible-test (e.g. --test pylint). ansible-test runs on $PYTHON
# (default: the checkout's .venv) and tests that interpreter's version.
#
#   run.sh --export-tree     write the collection's files as a tar to stdout, run nothing
#   COLAB_SANITY_IN_PLACE=1  the checkout already sits at .../ansible_collections/colab/cluster
#                            (tests/core_latest.py's container): no copy
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"

# The collection's files: what git tracks plus what it would track.
# collections/ansible_collections/colab/cluster links back to the checkout (for ansible.cfg's
# collections_path): it is not part of the collection and would loop. .venv is the checkout's
# virtualenv (a link to one, in some checkouts even tracked): never part of the collection.
export_tree() {
  cd "$root"
  git ls-files -z --cached --others --exclude-standard -- . ':!collections/ansible_collections' ':!.venv' \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -
}
if [ "${1:-}" = --export-tree ]; then
  export_tree
  exit 0
fi

cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for version in 24.2 24.3 25.0 25.1 25.2 25.3; do
  cat > "$cache/get_pip_${version//./_}.py" <<'PY'
"""Stand-in for get-pip.py: ensurepip, then the pip version asked for, from PyPI."""
import ensurepip
import os
import subprocess
import sys

# get-pip's own flags (--no-setuptools, --no-wheel) mean nothing to `pip install`.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap(upgrade=True)
# ensurepip hides the machine's pip configuration (and with it the CA bundle) from
# the rest of this process: give it back before the second install.
os.environ.pop("PIP_CONFIG_FILE", None)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args])
PY
done

if [ "${COLAB_SANITY_IN_PLACE:-}" = 1 ]; then
  case "$root" in
    */ansible_collections/colab/cluster) dest="$root" ;;
    *) echo "run.sh: COLAB_SANITY_IN_PLACE=1 needs the checkout at .../ansible_collections/colab/cluster, not $root" >&2
       exit 2 ;;
  esac
else
  # A tree of its own per run: runs from several checkouts may overlap.
  work="$(mktemp -d "${TMPDIR:-/tmp}/colab-sanity.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  dest="$work/ansible_collections/colab/cluster"
  mkdir -p "$dest"
  export_tree | tar -C "$dest" -xf -
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
cd "$dest"
"$(dirname "$python")/ansible-test" sanity --local --python "$version" --color no "$@"
