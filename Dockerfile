# The segflow worker image: `docker build -t segflow .`
#
# Runs one worker (`segflow worker`); every setting comes from SEGFLOW_* environment
# variables (see README.md, "Settings"). The same image runs the other commands, e.g.
# `docker run --rm -e SEGFLOW_BROKER=kafka:9092 segflow segflow topics create`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (README.md is the package's readme in pyproject.toml).
COPY pyproject.toml README.md ./
COPY models ./models
COPY sources ./sources
COPY streams ./streams
COPY examples ./examples
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/segflow --create-home segflow \
    && mkdir -p /var/lib/segflow/data \
    && chown -R segflow:segflow /var/lib/segflow

USER segflow

# Containers listen on all interfaces; a state directory per worker (mount a volume).
# Publish the port on the host's loopback only (`-p 127.0.0.1:6066:6066`), and give the
# worker a token at run time, never in the image (`-e SEGFLOW_WEB_TOKEN=...`): then
# every route but /healthz and /metrics needs `Authorization: Bearer <token>`.
ENV SEGFLOW_BROKER=kafka:9092 \
    SEGFLOW_STORE=rocksdb:// \
    SEGFLOW_DATA_DIR=/var/lib/segflow/data \
    SEGFLOW_WEB_PORT=6066 \
    SEGFLOW_WEB_BIND=0.0.0.0 \
    SEGFLOW_LOG_LEVEL=info

VOLUME ["/var/lib/segflow"]
EXPOSE 6066

# Healthy once the worker has joined its group and finished recovery (GET /healthz
# answers 200 only then, and needs no token), on whatever port SEGFLOW_WEB_PORT says.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('SEGFLOW_WEB_PORT', '6066'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

# Faust stops cleanly on SIGTERM (docker stop).
STOPSIGNAL SIGTERM
CMD ["segflow", "worker"]
