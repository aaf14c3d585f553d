# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
.PHONY: setup run test lint typecheck bench

setup:
	@bash scripts/setup.sh

run: setup
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
