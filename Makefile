# colab.cluster — the two commands are `make lab` and `make test`.
# Everything they need (the Debian packages of the machine itself, python3-venv included,
# the virtualenv, a Docker engine, Compose V2, the base image) is installed by the targets
# below when missing, and left alone when present.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned Python dependencies (tests/integration/test_fresh_machine.py points it at a
# smaller file to keep that test cheap; the target is the same).
REQUIREMENTS ?= requirements.txt
LINK := .ansible/collections/ansible_collections/colab/cluster
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
# `make test` runs its layers with tests/layers.py (the table there: hostprobe, yamllint,
# ansible-lint, sanity, unit, integration, molecule, lab, brownfield), each in its own run:
# a failing layer never hides the next ones, and the end prints one line per layer
# (passed/failed/skipped, seconds), the skip reasons and what this machine could not do.
# LAYERS="unit molecule" runs only those; PYTEST_ARGS is added to every pytest layer.
# In their own targets (each says what it costs): the fault suite, the PostgreSQL
# upgrade's failure cases (test-pg-major), site.yml's converge through ansible-runner in
# the EE (test-ee). make test builds the EE (tests/ee.py, cached by content) and checks
# the production inventory finds every role inside it; test-ee also runs site.yml in it
# on the lab (a drift, then converge and changed=0): measured in CI on 2 cores (clean
# clone, 2026-12-07) 831 s with the lab's first converge, about 8 min beyond it.
LAYERS ?=

.PHONY: help host venv link engine image lab lab-up lab-converge lab-summary lab-down drift \
        lint yamllint ansible-lint sanity unit integration molecule ee test build changelog clean \
        test-workstations arm64-image test-arm64 test-faults test-ee test-mesh \
        test-molecule-services test-pg-major test-registry ee-push mesh-packages test-core-latest

help:
	@echo "make lab        set everything up and converge the lab (cooperator + director)"
	@echo "make lab-down   remove every lab container, volume and network"
	@echo "make drift      what a converge would change (INVENTORY=inventory/production)"
	@echo "make test       set everything up and pass every test (each layer runs and reports: tests/layers.py)"
	@echo "make lint | sanity | unit | integration | molecule | build"
	@echo "make ee         build the execution environment image here (offline, cached by content)"
	@echo "make lab LAB_COOPERATOR_ARCH=arm64   the lab with an emulated aarch64 cooperator (slow)"
	@echo "make test-arm64 cooperator's roles on emulated aarch64, twice (changed=0)"
	@echo "make test-faults | test-ee | test-workstations | test-molecule-services | test-registry | test-core-latest   outside make test"
	@echo "make ee-push    push the EE image into the lab's registry (EE_REGISTRY=host:port: elsewhere)"

# --- setup ----------------------------------------------------------------------------
# The machine's own Debian packages: python3-venv when $(PYTHON) cannot make a virtualenv
# with pip (Debian's python3 cannot without it), openssh-client, git, openssl. Checked on
# every run (a fraction of a second), installed only when missing.
host:
	@$(PYTHON) lab/lab.py host --python "$$(command -v $(PYTHON))"

# A venv without pip is what `python3 -m venv` leaves behind when ensurepip is missing:
# it is made again.
$(STAMP): $(REQUIREMENTS) | host
	@test -x $(BIN)/pip || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	@touch $(STAMP)

venv: $(STAMP)

# Link this checkout where ansible looks for collections (see ansible.cfg).
link:
	@mkdir -p $(dir $(LINK))
	@test -L $(LINK) || ln -sfn ../../../.. $(LINK)

engine:
	@$(PYTHON) lab/lab.py engine

image:
	@$(PYTHON) lab/lab.py image

# --- the lab --------------------------------------------------------------------------
# LAB_COOPERATOR_ARCH=arm64: cooperator is an emulated aarch64 node made from the arm64
# node image (lab/arm64.py: sshd + admin user on the arm64 base), and the lab inventory is
# inventory/lab-arm64 (the lab's, less the roles that cannot run under emulation on
# cooperator: README "arm64 cooperator"). Emulated work yields the CPU: the converge runs
# under nice -n 19 and lab.py gives cooperator nice 19's CPU weight (cpu.shares 15).
LAB_COOPERATOR_ARCH ?=
LAB_INVENTORY := inventory/lab
LAB_NICE :=
ifeq ($(LAB_COOPERATOR_ARCH),arm64)
export LAB_COOPERATOR_ARCH
export LAB_COOPERATOR_IMAGE := $(shell $(PYTHON) lab/arm64.py tag)
LAB_INVENTORY := inventory/lab-arm64
LAB_UP_FIRST := arm64-image
LAB_NICE := nice -n 19
else ifneq ($(LAB_COOPERATOR_ARCH),)
$(error LAB_COOPERATOR_ARCH=$(LAB_COOPERATOR_ARCH): only arm64 (or empty, the host's) is known)
endif

lab: venv link lab-up lab-converge lab-summary

lab-up: $(LAB_UP_FIRST)
	@$(PYTHON) lab/lab.py up

lab-converge: venv link
	ANSIBLE_CALLBACKS_ENABLED=colab_lab_summary ANSIBLE_CALLBACK_PLUGINS=$(CURDIR)/lab/callback_plugins \
	  $(LAB_NICE) ansible-playbook -i $(LAB_INVENTORY) site.yml

# The arm64 base image (qemu-user-static + binfmt, emulated debootstrap: ~6 min, once)
# and the arm64 node image on it (lab/images/node, apt-get emulated).
arm64-image:
	@nice -n 19 $(PYTHON) lab/arm64.py image

lab-summary:
	@$(PYTHON) lab/lab.py summary

lab-down:
	@$(PYTHON) lab/lab.py down

# What a converge would change, per host and role, secrets redacted (check mode: nothing
# changes). The thing to run before the first real converge:
#   make drift INVENTORY=inventory/production
INVENTORY ?= inventory/lab
drift: venv link
	ANSIBLE_CALLBACKS_ENABLED=colab.cluster.drift \
	  ansible-playbook -i $(INVENTORY) site.yml --check --diff -e preflight_fail=false

# --- tests ----------------------------------------------------------------------------
yamllint: venv
	yamllint --strict .

ansible-lint: venv link
	ansible-lint --profile production

lint: yamllint ansible-lint

sanity: venv
	@$(PYTHON) lab/lab.py packages shellcheck
	tests/sanity/run.sh

unit: venv link
	pytest tests/unit

integration: venv link engine image
	@$(PYTHON) lab/lab.py packages docker-registry
	pytest tests/integration

molecule: venv link image
	@$(PYTHON) lab/hostprobe.py
	pytest tests/molecule

# Opt-in, not part of `make test`: molecule/arm64 converges cooperator's roles on an
# emulated aarch64 node, then again expecting changed=0 (README "arm64 cooperator").
# Under nice -n 19, and the node gets nice 19's CPU weight (its prepare).
test-arm64: venv link arm64-image
	nice -n 19 molecule test -s arm64

test: venv link engine image
	@$(PYTHON) lab/lab.py packages docker-registry shellcheck
	$(BIN)/python tests/layers.py $(LAYERS)

# Faults during a converge, on the lab (tests/lab/faults): secret store down and slow,
# the nested engine stopped, director stopped mid-converge, ansible-playbook killed during
# an apply, the project directory's filesystem full, smbd stopped, a service never healthy
# (those two: 156 s measured). Not in `make test`: measured 23 min alone
# (1375 s on 2 shared cores, of which 692 s is the lab fixture's converge, idempotence and
# check), so about 11 min on top of `make test`'s lab layer, beyond the ~6 min budget.
test-faults: venv link engine image
	pytest -x tests/lab/faults

# The gitea role's PostgreSQL major change, and its data surviving failures midway (an
# upgrade whose new server fails to start or whose pg_restore is killed, a killed restore
# run again), against real PostgreSQL 15 and 17 on the host's engine (also part of `make
# test`'s integration layer: the major change only; the data-safety cases, 273 s in CI
# on 2 cores, are left to this target): ~2 min each, plus ~2 min once per machine to build
# colab/postgres:15-bookworm.
test-pg-major: venv link engine image
	pytest -x tests/integration/test_gitea_postgres_major.py tests/integration/test_gitea_data_safety.py

# site.yml through ansible-runner inside the execution environment, with AWX's
# private_data_dir layout, against the lab (builds the EE first: `make ee`), with the lab's
# converge it needs first. `make test` runs only its production-inventory test (85 s):
# the converge and rerun in the EE cost ~8 min beyond the lab's converge (CI, 2 cores).
test-ee: ee link engine
	pytest -x tests/lab/test_awx_runner.py

# headscale and tailscale built from their Go modules and packaged as .debs
# (lab/gobuild.py, cached in ~/.cache/colab-cluster by version and architecture): the pins,
# and headscale 0.28.0 for the upgrade path. Cold here: 157 s + 146 s + 121 s at load ~2;
# nothing once cached. `lab/lab.py up` builds what it needs itself.
mesh-packages:
	@$(PYTHON) lab/gobuild.py all

# molecule mesh: the mesh roles applied to the real headscale and tailscaled, built from their
# Go modules by lab/gobuild.py (its prepare builds what ~/.cache/colab-cluster lacks: see
# mesh-packages for the cold cost), with the lab's no-leak guards and settings.
test-mesh: venv link image
	molecule test -s mesh

# The services roles' own scenarios (tests/lab converges and checks those roles in
# `make test` already): gitea, edge, mcp, chezmoi_export, about 7 min on an idle machine.
test-molecule-services: venv link image
	for s in gitea edge mcp chezmoi_export; do molecule test -s $$s || exit 1; done

# molecule registry: the registry role with both instances (push registry + proxy-mode
# mirror) on a nested engine: pushes, pulls back through registry-mirrors, the mirror's
# refusal of a push, bad input (4.5-6 min here: outside make test, tests/lab covers the
# role there).
test-registry: venv link image
	molecule test -s registry

# ansible-test sanity (no ignores) and the unit layer on the current ansible-core line
# (tests/core_latest.py: ansible-core 2.21 / ansible 14 in a locally built Debian 13
# container with its Python 3.13; the host's 3.11 stops at 2.19). Prints the ansible-core
# version. Cost: README "Tests".
test-core-latest: engine image
	@$(PYTHON) tests/core_latest.py run

# The execution environment of execution-environment.yml, built offline from the local base
# image (tests/ee.py); a second run finds the image by its content hash and builds nothing.
ee: venv image
	$(BIN)/python tests/ee.py build

# Push the EE image `make ee` built into a registry (issue 15; the EE itself is built by
# `make ee`, not here). EE_REGISTRY empty (default): the lab's registry on cooperator -
# the host's engine cannot reach cooperator:5000 over plain HTTP (it trusts loopback only),
# so the image is streamed into cooperator's engine, which pushes it (run it under the lab
# lock: flock /tmp/colab-lab.lock make ee-push). EE_REGISTRY=host:port: tagged and pushed
# from this machine's engine (a registry it trusts).
EE_REGISTRY ?=
EE_LAB_REGISTRY := cooperator:5000
ee-push: venv
	@tag="$$($(BIN)/python tests/ee.py tag)"; \
	docker image inspect "$$tag" >/dev/null 2>&1 || { echo "ee-push: $$tag is not built: make ee" >&2; exit 1; }; \
	if [ -n "$(EE_REGISTRY)" ]; then \
	  docker tag "$$tag" "$(EE_REGISTRY)/$$tag" && timeout 1800 docker push "$(EE_REGISTRY)/$$tag"; \
	else \
	  timeout 1800 docker save "$$tag" | docker exec -i colab-lab-cooperator docker load >/dev/null && \
	  docker exec colab-lab-cooperator docker tag "$$tag" "$(EE_LAB_REGISTRY)/$$tag" && \
	  timeout 1800 docker exec colab-lab-cooperator docker push "$(EE_LAB_REGISTRY)/$$tag"; \
	fi

# Windows/macOS contract tests alone (whole playbooks against stand-ins, about 5 min idle;
# `make test` runs them too, in tests/integration).
test-workstations: venv link image
	pytest tests/integration/test_workstations_contract.py

# --- packaging ------------------------------------------------------------------------
build: venv
	ansible-galaxy collection build --force .

changelog: venv
	antsibull-changelog release

clean:
	rm -rf .pytest_cache tests/output colab-cluster-*.tar.gz
