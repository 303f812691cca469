# syntax=docker/dockerfile:1
# Multi-stage build: wheels are built (stubs generated from proto/ are committed and checked current by
# `./dev check`), then installed into a slim runtime that runs as an unprivileged user.
# CI runs the same build script and the same health probe outside Docker: deploy/docker/smoke.sh.

FROM python:3.11-slim AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY client_stubs/ client_stubs/
COPY server/ server/
COPY sandbox/ sandbox/
COPY proto/ proto/
COPY deploy/docker/build-wheels.sh deploy/docker/build-wheels.sh
RUN pip install --no-cache-dir wheel && bash deploy/docker/build-wheels.sh /src /wheels

FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/vouchery-gateway --create-home gateway
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels vouchery-pos-gateway && rm -rf /wheels
USER gateway
WORKDIR /var/lib/vouchery-gateway
ENV VOUCHERY_GATEWAY_HOST=0.0.0.0 \
    VOUCHERY_GATEWAY_PORT=50051 \
    VOUCHERY_GATEWAY_METRICS_PORT=9464 \
    VOUCHERY_GATEWAY_DATA_DIR=/var/lib/vouchery-gateway/data \
    PYTHONUNBUFFERED=1
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["vouchery-gateway", "healthcheck", "--address", "127.0.0.1:50051"]
# Production mode: VOUCHERY_GATEWAY_UPSTREAM_URL and VOUCHERY_GATEWAY_UPSTREAM_API_KEY (or _FILE) must be set.
# HOST=0.0.0.0 is every interface of the container, which the gateway refuses without caller keys: mount a
# keys file (VOUCHERY_GATEWAY_KEYS_FILE; not writable by group or others) or, on a network only trusted
# hosts reach, set VOUCHERY_GATEWAY_INSECURE_NO_AUTH=true (deploy/compose.yaml does, publishing on loopback).
ENTRYPOINT ["vouchery-gateway"]
CMD ["serve"]
