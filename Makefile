# pbrepo — everything a newcomer needs on a fresh Debian machine:
#   make demo   install what is missing, build, and run pbrepo on the bundled samples
#   make test   install what is missing and run the test suite (what CI runs)

SHELL := /bin/bash
APT_PACKAGES := pkg-config libhdf5-dev libzstd-dev libxxhash-dev libopenblas-dev libsqlite3-dev hdf5-tools xxhash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PBREPO := .build/release/pbrepo

.PHONY: deps build test demo bench clean

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

build: deps
	swift build -c release --product pbrepo

# Builds everything first (the CLI tests run the real pbrepo binary), then runs the tests.
test: deps
	swift build --build-tests
	swift test --skip-build

demo: build
	@echo "== a safetensors checkpoint (fine-tuned MLP on scikit-learn digits)"
	$(PBREPO) inspect samples/mlp/mlp-ft-freeze2.safetensors
	@echo
	@echo "== a sharded Hugging Face checkpoint, read as one model"
	$(PBREPO) inspect samples/transformer/tiny-llama-ft-sharded
	@echo
	@echo "== a Keras 3 .weights.h5 file, as JSON"
	$(PBREPO) inspect samples/mlp/mlp-ft-freeze2.weights.h5 --json | head -30
	@echo
	@echo "== a hostile file: one line, exit status 1"
	@$(PBREPO) inspect samples/hostile/overlapping-offsets.safetensors || echo "(exit status $$?)"

bench: build
	scripts/bench-inspect.sh

clean:
	rm -rf .build
