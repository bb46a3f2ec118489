# accelmon.monitoring developer entry points.
# Every target installs what it needs into .venv from the pinned requirement files.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/accelmon/monitoring
ANSIBLE_TEST_ROOT := $(CURDIR)/.build/ansible-test/ansible_collections/accelmon/monitoring
comma := ,
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export PYTHONDONTWRITEBYTECODE := 1


.PHONY: help system-deps venv collection-link test test-units test-integration test-core-2.16 sanity units lint \
        demo demo-fault demo-down demo-ha bootstrap-token policy bench bench-inventory bench-rules bench-registrar bench-alerts \
        bench-dashboards bench-rollout build clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/.stamp: requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/test.txt
	touch $@

venv: $(BIN)/.stamp ## create .venv from requirements/test.txt

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

collection-link: $(COLLECTION_LINK)

system-deps: ## Debian/Ubuntu packages the tests and the lab need (apt, as root or via sudo)
	bash tests/tools/install_system_deps.sh

test: system-deps venv collection-link ## run every test (lint, sanity, units, molecule, lab end-to-end, integration)
	SKIP_STEPS="system-packages $(SKIP_STEPS)" bash tests/run-all.sh

test-units: venv collection-link ## pytest over tests/unit
	$(BIN)/pytest -q tests/unit

test-integration: venv collection-link ## pytest over tests/integration (ansible-inventory, galaxy build)
	$(BIN)/pytest -q tests/integration

test-core-2.16: collection-link ## unit and key integration tests on the lowest supported ansible-core (2.16), own venv
	bash tests/core-2.16.sh

sanity: venv ## ansible-test sanity on a copy placed at ansible_collections/accelmon/monitoring
	bash tests/ansible-test.sh sanity

units: venv ## ansible-test units on the same copy
	bash tests/ansible-test.sh units

lint: venv collection-link ## ansible-lint (production profile) and ruff
	$(BIN)/ruff check plugins tests tools
	$(BIN)/ansible-lint --profile production

LAB_INVENTORY := inventory/examples/lab/lab.accelmon.yml
LAB_TARGET ?= lab-h200
KIND ?= gpu-overtemp
HOST ?=

demo: system-deps venv collection-link ## the local lab (podman): fleet model -> site.yml -> live targets and alerts; see docs/lab.md
	bash tests/lab/lab.sh up --quiet
	@echo; echo "== effective policy of $(LAB_TARGET) (per-group thresholds of the lab's fleet model) =="
	$(BIN)/python tests/tools/show_target.py $(LAB_INVENTORY) $(LAB_TARGET)
	@echo; echo "Next: make demo-fault KIND=gpu-overtemp|gpu-vanish|node-down|allsmi-restart|allsmi-stop|gpu-xid|mount-gone|port-closed|command-fails|clear [HOST=lab-h200]; make demo-down"

demo-fault: venv collection-link ## inject a fault in the lab: KIND=gpu-overtemp|gpu-vanish|node-down|allsmi-restart|allsmi-stop|gpu-xid|mount-gone|port-closed|command-fails|clear [HOST=...]
	bash tests/lab/lab.sh fault $(KIND) $(HOST)
	@echo "The alert reaches the webhook within ~30 s: bash tests/lab/lab.sh status"

demo-down: ## remove the lab (containers, network, webhook sink)
	bash tests/lab/lab.sh down

HA_DIR ?=
demo-ha: venv collection-link ## scale-out topology on loopback (HA pair, Alertmanager cluster, VictoriaMetrics, 2 shards, vmalert); prints URLs; docs/scale-out.md
	$(BIN)/python tests/integration/ha_topology.py $(if $(HA_DIR),--dir $(HA_DIR),)

LAB_REGISTRAR_DB ?= /var/tmp/accelmon-lab/registrar/registrar.db
TOKEN_SCOPE ?= infrastructure:lab
TOKEN_GROUPS ?=
TOKEN_USES ?= 1
TOKEN_TTL ?= 1h
TOKEN_NAME ?= lab
TOKEN_STATE ?= present
bootstrap-token: venv collection-link ## bootstrap token for the lab registrar (TOKEN_SCOPE, TOKEN_GROUPS, TOKEN_USES, TOKEN_TTL, TOKEN_STATE=present|query|absent)
	mkdir -p $(dir $(LAB_REGISTRAR_DB))
	$(BIN)/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=$(BIN)/python \
	  -e bootstrap_token_hosts=localhost -e bootstrap_token_become=false -e bootstrap_token_db=$(LAB_REGISTRAR_DB) -e bootstrap_token_state=$(TOKEN_STATE) \
	  -e bootstrap_token_name=$(TOKEN_NAME) -e bootstrap_token_max_uses=$(TOKEN_USES) -e bootstrap_token_ttl=$(TOKEN_TTL) \
	  -e '{"bootstrap_token_primary_groups": ["$(TOKEN_SCOPE)"], "bootstrap_token_groups": [$(if $(TOKEN_GROUPS),"$(subst $(comma),"$(comma)",$(TOKEN_GROUPS))")]}' \
	  playbooks/bootstrap_token.yml

POLICY_SOURCE ?= inventory/examples/hybrid/hybrid.accelmon.yml
POLICY_TARGET ?= i-1234567890
policy: venv collection-link ## groups, effective policy and trace of one target (POLICY_SOURCE, POLICY_TARGET), no lab
	$(BIN)/python tests/tools/show_target.py $(POLICY_SOURCE) $(POLICY_TARGET)

bench: bench-inventory bench-rules bench-registrar ## every benchmark that needs no lab (figures: docs/performance.md)

bench-inventory: venv collection-link ## our inventory plugin vs ansible-core's YAML plugin at 1k/10k/100k targets
	$(BIN)/python tests/benchmarks/inventory_bench.py $(BENCH_SIZES)

bench-rules: system-deps venv collection-link ## thresholds-as-series rules vs static rules, 1k and 10k targets, two node shapes, real Prometheus
	$(BIN)/python tests/benchmarks/rules_bench.py $(RULES_BENCH_ARGS)

bench-dashboards: system-deps venv collection-link ## every Grafana panel query over 1 h at 10k targets in a real Prometheus
	$(BIN)/python tests/benchmarks/dashboard_query_bench.py

bench-registrar: venv collection-link ## seconds per registration through the registrar at 1k/10k targets
	$(BIN)/python tests/benchmarks/registrar_bench.py $(BENCH_SIZES)

bench-alerts: system-deps venv collection-link ## fault-to-webhook latency per alert kind in the lab (brings it up)
	$(BIN)/python tests/benchmarks/alert_latency.py --reps 3

ROLLOUT_BENCH_ARGS ?= --hosts 50 --forks 10 --concurrency 10 --raise-inotify
bench-rollout: system-deps venv collection-link ## rollout.yml over 50 podman systemd hosts: install all at once, upgrade rolling 10 (root, podman)
	$(BIN)/python tests/benchmarks/rollout_scale.py $(ROLLOUT_BENCH_ARGS)

build: venv ## build the collection tarball into .build/
	$(BIN)/ansible-galaxy collection build --force --output-path .build/ .

clean: ## remove build outputs (keeps .venv)
	rm -rf .build .pytest_cache
