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
# pytest runs the slow layers in this order and stops at the first failure.
PYTEST_LAYERS ?= tests/unit tests/integration tests/molecule tests/lab tests/brownfield
# In their own targets (each says what it costs): the fault suite, the AWX runner in the
# execution environment (its first build takes long), molecule mesh.
PYTEST_SKIP := --ignore=tests/lab/faults --ignore=tests/lab/test_awx_runner.py

.PHONY: help host venv link engine image lab lab-up lab-converge lab-summary lab-down drift \
        lint yamllint ansible-lint sanity unit integration molecule ee test build changelog clean \
        test-workstations arm64-image test-arm64 test-faults test-ee test-mesh \
        test-molecule-services

help:
	@echo "make lab        set everything up and converge the lab (cooperator + director)"
	@echo "make lab-down   remove every lab container, volume and network"
	@echo "make drift      what a converge would change (INVENTORY=inventory/production)"
	@echo "make test       set everything up and pass every test"
	@echo "make lint | sanity | unit | integration | molecule | build"
	@echo "make ee         build the execution environment image here (offline, cached by content)"
	@echo "make lab LAB_COOPERATOR_ARCH=arm64   the lab with an emulated aarch64 cooperator (slow)"
	@echo "make test-arm64 cooperator's roles on emulated aarch64, twice (changed=0)"
	@echo "make test-faults | test-ee | test-workstations | test-molecule-services   outside make test"

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
# LAB_COOPERATOR_ARCH=arm64: cooperator is an emulated aarch64 node (lab/arm64.py), and
# the lab inventory is lab/arm64/inventory (the lab's, less the roles that cannot run
# under emulation on cooperator: README "arm64 cooperator").
LAB_COOPERATOR_ARCH ?=
LAB_INVENTORY := inventory/lab
ifeq ($(LAB_COOPERATOR_ARCH),arm64)
export LAB_COOPERATOR_IMAGE := $(shell $(PYTHON) lab/arm64.py tag)
LAB_INVENTORY := lab/arm64/inventory
LAB_UP_FIRST := arm64-image
else ifneq ($(LAB_COOPERATOR_ARCH),)
$(error LAB_COOPERATOR_ARCH=$(LAB_COOPERATOR_ARCH): only arm64 (or empty, the host's) is known)
endif

lab: venv link lab-up lab-converge lab-summary

lab-up: $(LAB_UP_FIRST)
	@$(PYTHON) lab/lab.py up

lab-converge: venv link
	ANSIBLE_CALLBACKS_ENABLED=colab_lab_summary ANSIBLE_CALLBACK_PLUGINS=$(CURDIR)/lab/callback_plugins \
	  ansible-playbook -i $(LAB_INVENTORY) site.yml

# The arm64 base image (qemu-user-static + binfmt, emulated debootstrap: ~6 min, once).
arm64-image:
	@$(PYTHON) lab/arm64.py image

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

integration: venv link engine
	@$(PYTHON) lab/lab.py packages docker-registry
	pytest tests/integration

molecule: venv link image
	pytest tests/molecule

# Opt-in, not part of `make test`: molecule/arm64 converges cooperator's roles on an
# emulated aarch64 node, then again expecting changed=0 (README "arm64 cooperator").
test-arm64: venv link arm64-image
	molecule test -s arm64

test: venv link engine image
	@$(PYTHON) lab/lab.py packages docker-registry
	$(MAKE) --no-print-directory yamllint
	$(MAKE) --no-print-directory ansible-lint
	$(MAKE) --no-print-directory sanity
	pytest -x $(PYTEST_LAYERS) $(PYTEST_SKIP)

# Faults during a converge, on the lab (tests/lab/faults): secret store down and slow,
# the nested engine stopped, director stopped mid-converge, ansible-playbook killed during
# an apply, the project directory's filesystem full, smbd stopped, a service never healthy
# (those two: 156 s measured). Not in `make test`: measured 23 min alone
# (1375 s on 2 shared cores, of which 692 s is the lab fixture's converge, idempotence and
# check), so about 11 min on top of `make test`'s lab layer, beyond the ~6 min budget.
test-faults: venv link engine image
	pytest -x tests/lab/faults

# site.yml through ansible-runner inside the execution environment, with AWX's
# private_data_dir layout, against the lab (builds the EE first: `make ee`).
test-ee: ee link engine
	pytest -x tests/lab/test_awx_runner.py

# molecule mesh: the mesh roles applied against the mesh double (coordinator + clients).
test-mesh: venv link image
	molecule test -s mesh

# The services roles' own scenarios (tests/lab converges and checks those roles in
# `make test` already): gitea, edge, mcp, chezmoi_export, about 7 min on an idle machine.
test-molecule-services: venv link image
	for s in gitea edge mcp chezmoi_export; do molecule test -s $$s || exit 1; done

# The execution environment of execution-environment.yml, built offline from the local base
# image (tests/ee.py); a second run finds the image by its content hash and builds nothing.
ee: venv image
	$(BIN)/python tests/ee.py build

# Windows/macOS contract scenarios (whole playbooks against stand-ins; slow, not in `make test`).
test-workstations: venv link image
	COLAB_WORKSTATIONS_CONTRACT=1 pytest tests/integration/test_workstations_contract.py

# --- packaging ------------------------------------------------------------------------
build: venv
	ansible-galaxy collection build --force .

changelog: venv
	antsibull-changelog release

clean:
	rm -rf .pytest_cache tests/output colab-cluster-*.tar.gz
