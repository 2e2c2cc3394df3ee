# Parity: `make dev` runs the local stack, `make test` runs every test tier.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev demo test lint unit integration e2e fuzz chaos check-template deploy-check bench clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt functions/event_processor/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet -e .  # the operator console: $(BIN)/parity
	touch $(STAMP)

# The table and queues are kept in .parity/state across restarts; RESET=1 starts empty.
dev: $(STAMP)
	PYTHONPATH=layers/common:. exec $(BIN)/python -m local $(if $(filter 1 true yes,$(RESET)),--reset)

# STORE=stripe|app_store|play_store (comma-separated; default all); the stack: PARITY_URL, PORT or .parity/local.json
demo: $(STAMP)
	PYTHONPATH=layers/common:. $(BIN)/python -m local.demo $(if $(STORE),--store $(STORE))

test: $(STAMP)
	$(BIN)/python -m pytest

# Static checks: ruff over the repository, mypy over the layer (both configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy -p parity

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

fuzz: $(STAMP)  # 10,000 hostile inputs across every route of a local stack (docs/RELIABILITY.md)
	PYTHONPATH=layers/common:. $(BIN)/python -m tests.fuzz --inputs $${FUZZ_INPUTS:-10000}

check-template:
	scripts/check_template.sh

# A rehearsal of `sam deploy` without an AWS account: sam build, the SAM transform offline, then dev and
# prod created as stacks in one emulated account and region (README, "Deploying").
deploy-check:
	scripts/deploy_check.sh

bench: $(STAMP)
	PYTHONPATH=layers/common:. $(BIN)/python bench/run.py

# Fault injection: 10,000 events for 500 users, 20 % of calls failing, judged against a fault-free run.
# CHAOS_ARGS="--users 30 --events 300" for a short one (docs/RELIABILITY.md).
chaos: $(STAMP)
	PYTHONPATH=layers/common:. $(BIN)/python bench/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .venv-tools .venv-tools-bin .aws-sam .pytest_cache .mypy_cache .ruff_cache
