# syntax=docker/dockerfile:1
# Postgate's image (docs/deploy.md).
#   docker build -t postgate .                        # core and every plugin under plugins/
#   docker build --build-arg PLUGINS="mysql" -t postgate .   # core and the chosen plugins only
# Installed plugins are loaded only when named in load_plugins (POSTGATE_LOAD_PLUGINS='["mysql"]').

# -- builder: wheels of the workspace, installed at the pinned versions into /opt/postgate ---------
FROM python:3.12-slim-bookworm AS builder

# "all" (every plugins/<name>/), "none", or plugin folder names separated by spaces or commas.
ARG PLUGINS=all

ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_PROGRESS=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir "uv==0.13.8"

WORKDIR /src
COPY pyproject.toml ./
COPY gateway ./gateway
COPY plugins ./plugins
COPY deploy/docker/install.sh ./deploy/docker/install.sh

# The same script the tests run outside Docker (tests/test_container_install.py).
RUN --mount=type=cache,target=/root/.cache/uv \
    PYTHON=/usr/local/bin/python3 sh deploy/docker/install.sh /src /opt/postgate "$PLUGINS"

# -- final: the environment alone, run by an unprivileged user -------------------------------------
FROM python:3.12-slim-bookworm

LABEL org.opencontainers.image.title="Postgate" \
      org.opencontainers.image.description="Mailgun's HTTP API for Ghost and friends, sending through SES or a local outbox"

RUN groupadd --system --gid 10001 postgate \
    && useradd --system --uid 10001 --gid postgate --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin postgate \
    && mkdir /data \
    && chown postgate:postgate /data

COPY --from=builder /opt/postgate /opt/postgate

ENV PATH=/opt/postgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POSTGATE_DATA_DIR=/data \
    POSTGATE_GATEWAY__HOST=0.0.0.0

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000

# Readiness: storage, queue and delivery answer (503 otherwise). Workers (`postgate worker`) listen
# on no port: compose.yaml turns this check off for them.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('POSTGATE_GATEWAY__PORT', '3000'), timeout=8)"]

# serve and worker stop on SIGTERM: workers finish their chunk in hand, release the rest, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["postgate"]
CMD ["serve"]
