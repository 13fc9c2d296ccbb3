.PHONY: up test lint format services-up services-down install lock clean bench bench-quick

up: ## run the whole stack here (Redis, Elasticsearch, ingest, worker, web); Ctrl-C stops it
	scripts/run.sh

test: ## set up everything, lint, and run all tests against the real services
	scripts/test.sh

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

install:
	scripts/bootstrap.sh

lock: ## after changing a pin in pyproject.toml: the locks with every file's SHA-256 (docs/SECURITY.md)
	scripts/lock.sh

services-up:
	scripts/services.sh start

bench: install services-up ## full benchmark (100k-doc search index): bench/results/latest.json, docs/BENCHMARKS.md
	HF_HUB_OFFLINE=1 .venv/bin/python -m bench --mode full

bench-quick: install services-up ## the same measures, smaller (a few minutes)
	HF_HUB_OFFLINE=1 .venv/bin/python -m bench --mode quick

services-down:
	scripts/services.sh stop
