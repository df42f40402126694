# colab.cluster — the two commands are `make lab` and `make test`.
# Everything they need (the virtualenv, a Docker engine, Compose V2, the base image)
# is installed by the targets below when missing, and left alone when present.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
LINK := .ansible/collections/ansible_collections/colab/cluster
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
# pytest runs the slow layers in this order and stops at the first failure.
PYTEST_LAYERS ?= tests/unit tests/integration tests/molecule tests/lab

.PHONY: help venv link engine image lab lab-up lab-converge lab-summary lab-down \
        lint yamllint ansible-lint sanity unit integration molecule test build changelog clean \
        test-workstations

help:
	@echo "make lab        set everything up and converge the lab (cooperator + director)"
	@echo "make lab-down   remove every lab container, volume and network"
	@echo "make test       set everything up and pass every test"
	@echo "make lint | sanity | unit | integration | molecule | build"

# --- setup ----------------------------------------------------------------------------
$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
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
lab: venv link lab-up lab-converge lab-summary

lab-up:
	@$(PYTHON) lab/lab.py up

lab-converge: venv link
	ANSIBLE_CALLBACKS_ENABLED=colab_lab_summary ANSIBLE_CALLBACK_PLUGINS=$(CURDIR)/lab/callback_plugins \
	  ansible-playbook -i inventory/lab site.yml

lab-summary:
	@$(PYTHON) lab/lab.py summary

lab-down:
	@$(PYTHON) lab/lab.py down

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
	pytest tests/integration

molecule: venv link image
	pytest tests/molecule

test: venv link engine image
	$(MAKE) --no-print-directory yamllint
	$(MAKE) --no-print-directory ansible-lint
	$(MAKE) --no-print-directory sanity
	pytest -x $(PYTEST_LAYERS)

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
