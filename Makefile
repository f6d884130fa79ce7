.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
# Prefix for commands that need root (e.g. `make install SUDO=sudo`); empty when running as root.
SUDO ?=

.PHONY: help
help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# redis-server and PostgreSQL are for the tests, which start their own servers on free ports in
# temporary directories: a system service the Debian packages may start is never used.
APT := $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install
install: ## Create the venv and install build and test tools (and Debian's redis-server and postgresql)
	command -v redis-server >/dev/null 2>&1 || $(APT) install -y -q redis-server \
		|| ($(APT) update -q && $(APT) install -y -q redis-server)
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| $(APT) install -y -q postgresql || ($(APT) update -q && $(APT) install -y -q postgresql)
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q "maturin>=1.7,<2" pytest pytest-asyncio pytest-timeout aiohttp ruff mypy typing_extensions pydantic brotli zstandard opentelemetry-api opentelemetry-sdk openai anthropic "mcp>=2.3,<3"

.PHONY: build-dev
build-dev: ## Build the extension (debug) into the venv
	$(VENV)/bin/maturin develop

.PHONY: build
build: ## Build the extension (release) into the venv
	$(VENV)/bin/maturin develop --release

.PHONY: format
format: ## Format Rust and Python
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches examples
	$(VENV)/bin/ruff check --fix python tests benches examples

.PHONY: lint-rust
lint-rust: ## cargo fmt --check and clippy -D warnings
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python --all-targets -- -D warnings

.PHONY: lint-python
lint-python: ## ruff and mypy stubtest
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(PY) -m mypy.stubtest liter_llm._liter_llm --allowlist .mypy-stubtest-allowlist
	$(PY) -m mypy --strict python/liter_llm/_liter_llm.pyi

.PHONY: lint
lint: lint-rust lint-python ## All linters

.PHONY: test-rust
test-rust: ## Rust tests (no Python needed)
	cargo test

.PHONY: test
test: ## Python tests against the built extension
	$(PY) -m pytest tests

.PHONY: bench
bench: ## Side-by-side client benchmark (see benches/README.md)
	$(PY) benches/bench_clients.py

.PHONY: all
all: lint test-rust build test ## Everything CI runs
