# The two commands of the README's Quick start; each installs what it needs by itself.
.PHONY: demo test lint infra-up infra-down clean

demo:
	scripts/bootstrap
	.venv/bin/tierstream demo

test:
	scripts/test

lint:
	scripts/bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy tiering schemas streams

infra-up:
	scripts/infra up

infra-down:
	scripts/infra down

clean:
	scripts/infra down || true
	rm -rf .venv .infra .pytest_cache .mypy_cache .ruff_cache
