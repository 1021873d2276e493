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
# chromium and a CJK font: the console's browser tests (Playwright drives the system browser); nginx: the CDN cache tests.
APT_TEST := $(APT_RUN) postgresql chromium fonts-noto-cjk nginx-light
APT_BENCH := $(APT_TEST) wrk pocketsphinx-testdata
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-image bench venv-run venv-test apt-run apt-test apt-bench apt-image image image-converters \
        vision-bundle vision-bench demo-catalog voice-bundle voice-encoder-bundle fraud-bundle recs-bundle clean

run: venv-run apt-run
	$(BIN)/storefront-edge --data-dir $(DATA) init --demo
	$(BIN)/storefront-edge --data-dir $(DATA) serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: venv-test apt-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The container image: Docker when a daemon answers, else buildah on a debootstrap base (made once).
APT_IMAGE := buildah debootstrap
IMAGE     ?= localhost/storefront-edge:latest

image: apt-image
	$(PYTHON) scripts/image_build.py --target node --tag $(IMAGE)

image-converters: apt-image
	$(PYTHON) scripts/image_build.py --target converters --tag localhost/storefront-convert:latest

# The image test alone: builds the image from a clean clone and serves a photo search inside it.
test-image: venv-test apt-image
	$(BIN)/python -m pytest -q -p no:cacheprovider -m image $(PYTEST_ARGS)

# The voice figures need Debian's pocketsphinx-testdata (real recordings), the multilingual Whisper weights and Piper.
bench: venv-test apt-bench
	$(PIP) install -e '.[voice-zh,voice-piper]'
	$(BIN)/python -m benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# One stamp per set of extras and per version of setup.cfg: a second run does nothing.
$(VENV)/.stamp-run: setup.cfg | $(BIN)/python
	$(PIP) install -e '.[edge,voice]'
	touch $@

# The converters need packages whose metadata pins versions that would break the rest: those go in
# without dependencies (converters/requirements-no-deps.txt says which and why; the image uses it too).
CONVERT_NO_DEPS := converters/requirements-no-deps.txt

$(VENV)/.stamp-test: setup.cfg Makefile $(CONVERT_NO_DEPS) | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[edge,voice,voice-test,convert,hub,dev]'
	$(PIP) install --no-deps -r $(CONVERT_NO_DEPS)
	touch $@ $(VENV)/.stamp-run

venv-run: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

# System packages, installed only when running as root and missing.
apt-run:
	@sh scripts/apt-ensure.sh $(APT_RUN)
apt-test:
	@sh scripts/apt-ensure.sh $(APT_TEST)
apt-bench:
	@sh scripts/apt-ensure.sh $(APT_BENCH)
apt-image:
	@timeout 15 docker info >/dev/null 2>&1 || sh scripts/apt-ensure.sh $(APT_IMAGE)

# Reproduce the shipped default vision bundle from the grocery photos with the long recipe (needs
# ../shared; about 75 minutes on 2 cores). SIGN_KEY=path/to/key.key signs it (see models_lite/README.md).
vision-bundle: venv-test
	$(BIN)/storefront-edge convert vision recipe --long --dataset ../shared/datasets/grocery-store --out models_lite/storefront-vision --resume $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

# The size-against-quality table of every exported model and format (needs the recipe's exports).
vision-bench: venv-test
	$(BIN)/python -m benchmarks vision_quality

demo-catalog: venv-test
	$(BIN)/storefront-edge convert vision demo-catalog --dataset ../shared/datasets/grocery-store --out models_lite/demo_catalog --bundle models_lite/storefront-vision

# Rebuild the signed voice bundle: bundle.json pins the Whisper weight files of the installed package.
voice-bundle: venv-test
	$(BIN)/storefront-edge bundle build models_lite/storefront-voice
	$(if $(SIGN_KEY),$(BIN)/storefront-edge bundle sign models_lite/storefront-voice --key $(SIGN_KEY))

# A voice bundle with the FAQ encoder (23 MB int8, over the repository's file limit: built into build/, shipped
# through the hub with `hub publish-bundle`, never committed). SIGN_KEY=path/to/key.key signs it.
VOICE_ENCODER_BUNDLE := build/storefront-voice-encoder
voice-encoder-bundle: venv-test
	rm -rf $(VOICE_ENCODER_BUNDLE) && mkdir -p $(VOICE_ENCODER_BUNDLE)
	$(BIN)/storefront-edge convert voice-encoder --out $(VOICE_ENCODER_BUNDLE)
	$(BIN)/python -m converters.voice.bundle models_lite/storefront-voice/bundle.json $(VOICE_ENCODER_BUNDLE)
	$(BIN)/storefront-edge bundle build $(VOICE_ENCODER_BUNDLE)
	$(if $(SIGN_KEY),$(BIN)/storefront-edge bundle sign $(VOICE_ENCODER_BUNDLE) --key $(SIGN_KEY))
# Reproduce the shipped fraud bundle from the synthetic payment stream (no outside data; about 2 minutes on
# 2 cores). SIGN_KEY=path/to/key.key signs it (see models_lite/README.md).
fraud-bundle: venv-test
	$(BIN)/storefront-edge fraud train --stream --seed 0 --version 1.1.0 --out models_lite/storefront-fraud $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))
# Reproduce the shipped storefront-recs bundle: synthetic sessions over the demo catalog (no shopper data),
# trained with the default recipe (a few minutes on 2 cores). SIGN_KEY=path/to/key.key signs it.
recs-bundle: venv-test
	$(BIN)/storefront-edge recommend synthetic-events --catalog models_lite/demo_catalog/catalog.csv --out $(DATA)/demo-recs-events.csv
	$(BIN)/storefront-edge recommend train --events $(DATA)/demo-recs-events.csv --out models_lite/storefront-recs --version 1.0.0 --seconds 120 $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
