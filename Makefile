# pbrepo — everything a newcomer needs on a fresh Debian machine:
#   make demo   install what is missing, build, and run pbrepo on the bundled samples
#   make test   install what is missing and run the test suite (what CI runs)

SHELL := /bin/bash
APT_PACKAGES := pkg-config libhdf5-dev libzstd-dev libxxhash-dev libopenblas-dev libsqlite3-dev hdf5-tools xxhash librsvg2-bin \
	docker-registry skopeo apache2-utils curl
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PBREPO := .build/release/pbrepo
TEST_PYTHON := .build/python
ORAS_VERSION := 0.2.43

.PHONY: deps build test test-fast lint fuzz demo bench bench-distribution install clean

PREFIX ?= /usr/local
STATIC_BUILD := .build-static

# Installs the Debian packages that are missing (idempotent; `apt-get update` only when something is missing).
deps:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "system packages: all present"; \
	fi
	@# The Python ORAS client the interoperability tests run (PyPI), in a venv of its own under .build/.
	@$(TEST_PYTHON)/bin/python -c "import oras" 2>/dev/null || { \
	  echo "installing oras $(ORAS_VERSION) into $(TEST_PYTHON)"; \
	  python3 -m venv $(TEST_PYTHON) && $(TEST_PYTHON)/bin/pip install -q oras==$(ORAS_VERSION); }

build: deps
	swift build -c release --product pbrepo

# A release binary with the static Swift standard library (and Foundation): it runs on a Debian machine without the
# Swift toolchain, needing only the C libraries' runtime packages (README). Its own build path, so that the usual
# release build is not rebuilt with other flags.
install: deps
	swift build -c release --product pbrepo --static-swift-stdlib --build-path $(STATIC_BUILD)
	install -D -m 755 $(STATIC_BUILD)/release/pbrepo $(DESTDIR)$(PREFIX)/bin/pbrepo

# Seconds each fuzz target runs: 30 in `make test` (five targets, a few minutes with the build); raise it to fuzz
# for real, e.g. `make fuzz FUZZ_SECONDS=3600` (docs/fuzzing.md).
FUZZ_SECONDS ?= 30

# Builds everything first (the CLI tests run the real pbrepo binary), then runs the tests, then a bounded fuzz run.
test: deps lint
	swift build --build-tests
	swift test --skip-build
	scripts/check_install.sh
	scripts/check_memory.sh
	scripts/fuzz.sh $(FUZZ_SECONDS)

# libFuzzer + AddressSanitizer over the decoders of untrusted bytes, and HDF5 mutants through the CLI.
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Everything but the suites tagged .slow (Tests/TestSupport/Tags.swift), for the edit–test loop.
test-fast: deps
	swift build --build-tests
	swift test --skip-build --skip 'TinyScenarioLearningTests|StoreCrashTests'

# Formatting (the committed .swift-format, toolchain's swift-format) and the module graph (scripts/check_imports.py).
lint:
	swift format lint --strict --recursive Sources Tests Package.swift
	python3 scripts/check_imports.py

demo: build
	PBREPO=$(PBREPO) scripts/demo.sh

# Pull, push and serve beside curl|openssl, skopeo, nginx and docker-registry (docs/benchmarks.md); installs them.
bench-distribution: build
	python3 scripts/bench_distribution.py --pbrepo $(PBREPO)

bench: build
	$(PBREPO) bench inspect --size-gb 1.5

clean:
	rm -rf .build .build-fuzz $(STATIC_BUILD)
