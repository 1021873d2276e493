# storefront-edge node image: runtime and voice extras only, non-root, health-checked.
#   docker build -t storefront-edge .                         # the node
#   docker build --target converters -t storefront-convert .  # the training-side converters
# BASE_IMAGE is any Debian-based image with python3 (3.11) and its venv module: python:3.11-slim by
# default; `make image` without a Docker daemon passes a Debian bookworm base made with debootstrap.
# The PIP_* build arguments reach the image's pip as they are set (an index, its certificate
# authorities); they are build arguments only and stay out of the image's configuration.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS node
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
ARG PIP_TRUSTED_HOST
ARG PIP_DEFAULT_TIMEOUT
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    STOREFRONT_EDGE_DATA_DIR=/var/lib/storefront-edge \
    STOREFRONT_EDGE_HOST=0.0.0.0 STOREFRONT_EDGE_PORT=8080
# espeak-ng speaks for the voice plugin; curl runs the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libespeak-ng1 libgomp1 curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
WORKDIR /app
# The dependencies first, from setup.cfg alone (an empty README stands in for the long description), so
# that a change to the sources rebuilds only the cheap layers below. g++ (and Python's headers, where the
# base lacks them: Debian's python3) compile annoy; the same layer then purges every package it installed
# (not only what autoremove would take: apt keeps binutils for python3's Suggests), so the image carries
# no compiler. annoy's own flags add -march=native, which would tie the image to the build machine's CPU
# (SIGILL elsewhere): ANNOY_COMPILER_ARGS keeps the rest. --use-pep517 builds annoy as a wheel, which
# the pip cache keeps for the next build. Later extras slot in here ('.[edge,voice,...]').
COPY setup.cfg pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    build="g++" \
 && python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || build="$build python3-dev" \
 && dpkg-query -W -f '${db:Status-Abbrev}${Package}\n' | sed -n 's/^ii *//p' | sort > /tmp/packages-before \
 && apt-get update && apt-get install -y --no-install-recommends $build \
 && touch README.md \
 && ANNOY_COMPILER_ARGS=-D_CRT_SECURE_NO_WARNINGS,-fpermissive,-O3,-ffast-math,-fno-associative-math,-DANNOYLIB_MULTITHREADED_BUILD,-std=c++14 \
    pip install --disable-pip-version-check --use-pep517 '.[edge,voice]' \
 && dpkg-query -W -f '${db:Status-Abbrev}${Package}\n' | sed -n 's/^ii *//p' | sort | comm -13 /tmp/packages-before - | xargs apt-get purge -y \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/packages-before README.md build *.egg-info
COPY README.md ./
COPY edge ./edge
COPY plugins ./plugins
COPY converters ./converters
COPY models_lite ./models_lite
# The project itself over the placeholder the step above installed (its dependencies are in place).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check --use-pep517 --no-deps --force-reinstall . \
 && rm -rf build *.egg-info
ENV STOREFRONT_EDGE_MODELS_DIR=/app/models_lite
RUN useradd --system --create-home --uid 10001 edge \
 && mkdir -p /var/lib/storefront-edge && chown edge /var/lib/storefront-edge
USER edge
RUN storefront-edge init --demo
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${STOREFRONT_EDGE_PORT}/healthz" || exit 1
# Binding 0.0.0.0 needs STOREFRONT_EDGE_CLIENT_KEY and STOREFRONT_EDGE_ADMIN_KEY (docker run -e ...).
CMD ["storefront-edge", "serve", "--workers", "2"]

FROM node AS converters
USER root
# Pass a CPU-only wheel index with --build-arg TORCH_PIP_ARGS="--index-url <cpu wheel index>" to avoid
# the multi-GB CUDA build of torch.
ARG TORCH_PIP_ARGS=""
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check $TORCH_PIP_ARGS torch==2.13.0 \
 && pip install --disable-pip-version-check '.[convert]' \
 && pip install --disable-pip-version-check --no-deps -r converters/requirements-no-deps.txt
USER edge
ENTRYPOINT ["storefront-edge", "convert"]
CMD ["--help"]
