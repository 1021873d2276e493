# storefront-edge node image: runtime and voice extras only, non-root, health-checked.
#   docker build -t storefront-edge .                     # the node
#   docker build --target converters -t storefront-convert .  # the training-side converters
FROM python:3.11-slim AS node
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STOREFRONT_EDGE_DATA_DIR=/var/lib/storefront-edge
# espeak-ng speaks for the voice plugin; build tools compile annoy, then leave.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libespeak-ng1 libgomp1 curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY edge ./edge
COPY plugins ./plugins
COPY converters ./converters
COPY models_lite ./models_lite
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
 && pip install --no-cache-dir '.[edge,voice]' \
 && apt-get purge -y g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV STOREFRONT_EDGE_MODELS_DIR=/app/models_lite
RUN useradd --system --create-home --uid 10001 edge \
 && mkdir -p /var/lib/storefront-edge && chown edge /var/lib/storefront-edge
USER edge
RUN storefront-edge init --demo
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# Binding 0.0.0.0 needs STOREFRONT_EDGE_CLIENT_KEY and STOREFRONT_EDGE_ADMIN_KEY (docker run -e ...).
CMD ["storefront-edge", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]

FROM node AS converters
USER root
# Pass a CPU-only wheel index with --build-arg TORCH_PIP_ARGS="--index-url <cpu wheel index>" to avoid
# the multi-GB CUDA build of torch.
ARG TORCH_PIP_ARGS=""
RUN pip install --no-cache-dir $TORCH_PIP_ARGS torch==2.13.0 \
 && pip install --no-cache-dir '.[convert]'
USER edge
ENTRYPOINT ["storefront-edge", "convert"]
CMD ["--help"]
