# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
.PHONY: setup run demo test lint typecheck bench fuzz

setup:
	@bash scripts/setup.sh

# The whole stack on this machine (Ctrl-C stops it); it prints what to try next.
run: setup
	@.venv/bin/outlayer dev

# The executor alone: real guests and a hostile one through `outlayer run`.
demo: setup
	@bash scripts/demo.sh

lint: setup
	@echo "==> ruff"
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

typecheck: setup
	@echo "==> mypy"
	@.venv/bin/mypy

test: setup lint typecheck
	@echo "==> pytest"
	@.venv/bin/pytest -n 2 --dist loadfile -q

bench: setup
	@.venv/bin/python -m bench.executor_overhead
	@.venv/bin/python -m bench.compute_speed
	@.venv/bin/python -m bench.contract_gas
	@.venv/bin/python -m bench.https_calls
	@.venv/bin/python -m bench.queue_throughput
	@.venv/bin/python -m bench.compiler_builds
	@.venv/bin/python -m bench.real_repositories
	@.venv/bin/python -m bench.dashboard_tti
	@.venv/bin/python -m bench.host_calls

# The contract's stateful property test, searched longer than in CI (500 cases; CI runs 60, about
# 3.5 minutes, so expect well over half an hour).
fuzz: setup
	@OUTLAYER_FUZZ=1 .venv/bin/pytest -q --timeout 0 tests/contract/test_stateful.py
