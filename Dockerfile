# The DAM service image: `dam serve`, `dam worker` and the one-shot `dam storage init` of
# docker-compose.yml. Pin the base image by digest (python:3.11-slim@sha256:...) for builds that
# must not move at all; every Python package is pinned with its hash by requirements.lock.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, from the lock with hashes (scripts/lock writes it from pyproject.toml):
# this layer is rebuilt only when the lock changes, and it installs the same bytes every time.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY dam ./dam
# Dependencies and the build backend came from the lock; nothing is resolved here.
RUN pip install --no-deps --no-build-isolation . && rm -rf build dam.egg-info
COPY taxonomy ./taxonomy

# An unprivileged user owns the data volume. The directory is made and chowned before VOLUME,
# so a new named volume starts as a copy of it, writable for that user.
RUN groupadd --system --gid 10001 dam \
    && useradd --system --uid 10001 --gid dam --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin dam \
    && mkdir -p /data \
    && chown dam:dam /data
ENV DAM_TAXONOMY_DIR=/app/taxonomy DAM_DATA_DIR=/data
VOLUME ["/data"]
USER dam:dam

EXPOSE 8000
# Ready means database and storage answer (/readyz: 503 otherwise); urlopen raises on a 503.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["dam", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
