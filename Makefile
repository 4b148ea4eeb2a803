# clearml-runai: `make demo` runs the main job end to end on a local control plane,
# `make test` runs every test. Both install what they need (venv, pinned tools) themselves.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the pinned clearml-agent that the tests run lives in a venv of its own: what the tool may depend on
# is chosen for the tool alone
AGENT_VENV := .cache/agent-venv
AGENT_STAMP := $(AGENT_VENV)/.installed
# the real clearml SDK, which the tests drive the ClearML stand-in with, in a venv of its own too
SDK_VENV := .cache/clearml-sdk-venv
SDK_STAMP := $(SDK_VENV)/.installed

.PHONY: help venv agent-venv sdk-venv tools renderer test test-unit test-chart test-cluster lint cluster-up cluster-down demo bench package clean

help:
	@echo "make demo          run the whole job on a local control plane, then clean up"
	@echo "make test          every test: unit, chart (helm v4 and v3), cluster (real kube-apiserver)"
	@echo "make cluster-up    start the local control plane (prints export KUBECONFIG=...)"
	@echo "make cluster-down  stop it and remove its state"
	@echo "make bench         benchmarks (see docs/benchmarks.md)"
	@echo "make package       the chart archive, dist/clearml-runai-agent-<version>.tgz, for helm push"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

$(AGENT_STAMP): ci/agent-requirements.txt
	test -x $(AGENT_VENV)/bin/python || $(PYTHON) -m venv $(AGENT_VENV)
	$(AGENT_VENV)/bin/python -m pip install -q -r ci/agent-requirements.txt
	touch $@

agent-venv: $(AGENT_STAMP)

$(SDK_STAMP): ci/sdk-requirements.txt
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q -r ci/sdk-requirements.txt
	touch $@

sdk-venv: $(SDK_STAMP)

tools:
	@ci/tools.sh

# the operator's chart renderer (renderer/): helm's library in one process, .cache/renderer/bin/clearml-runai-render
renderer:
	@ci/build.sh renderer

lint: venv
	$(VENV)/bin/ruff check generator sandbox tests ci benchmarks
	$(VENV)/bin/mypy
	test -z "$$(gofmt -l renderer)"
	cd renderer && go vet .

test-unit: venv agent-venv sdk-venv
	$(PY) -m pytest tests/unit -q

test-chart: venv tools renderer
	$(PY) -m pytest tests/chart -q

test: venv agent-venv sdk-venv tools renderer
	@ci/test.sh

cluster-up:
	@ci/cluster.sh up

# also the other control planes of the tests (KAI under its open-source names; KAI v0.17.0), if one
# was left running
cluster-down:
	@ci/cluster.sh down
	@TESTENV_RUN_DIR=.cache/testenv/run-kai ci/cluster.sh down
	@KAI_VERSION=v0.17.0 TESTENV_RUN_DIR=.cache/testenv/run-v0.17.0 ci/cluster.sh down

demo: venv agent-venv sdk-venv tools renderer
	@ci/demo.sh

# the tool is measured as a user installs it: `pip install .`, without the test extras
BENCH_VENV := .cache/bench-venv
bench: tools renderer
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade --force-reinstall --no-deps .
	$(BENCH_VENV)/bin/python -m pip install -q ".[operator]"
	$(BENCH_VENV)/bin/python benchmarks/run.py

# the chart archive, for `helm push dist/clearml-runai-agent-<version>.tgz oci://REGISTRY/PATH`; its version
# is Chart.yaml's, which a test keeps equal to the tool's
PACKAGE_DIR ?= dist
package: tools
	.cache/tools/helm package charts/clearml-runai-agent --destination $(PACKAGE_DIR)

clean: cluster-down
	rm -rf $(VENV) .cache
