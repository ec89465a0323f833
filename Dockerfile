# syntax=docker/dockerfile:1
# The boxoffice image: the release binary on a slim Debian, run as a user
# without privileges. deploy/compose.yaml builds it; docs/deploy.md says how
# to run it.
#
#   docker build -t boxoffice .
#   docker run --rm -p 8080:8080 boxoffice      # the embedded mode (SQLite in /var/lib/boxoffice)

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# rdkafka builds its bundled librdkafka: a C toolchain, make and zlib; with
# its `ssl` feature (TLS to Kafka) it links the system OpenSSL, found by
# pkg-config. cmake is for rdkafka's cmake build, should it be switched on.
# Versions come with the Debian release (not pinned one by one).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config cmake zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and the target directory are cache mounts: a rebuild after a
# change compiles only what changed. The binary is copied out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin boxoffice \
    && install -m 0755 target/release/boxoffice /usr/local/bin/boxoffice

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libssl3: librdkafka's TLS. ca-certificates: the system's roots, which
# TLS to PostgreSQL and Redis, the JWKS URL and the data platform trust.
# curl: the health check.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 boxoffice \
    && useradd --system --uid 10001 --gid boxoffice --home-dir /var/lib/boxoffice \
        --shell /usr/sbin/nologin boxoffice \
    && install -d -o boxoffice -g boxoffice -m 0750 /var/lib/boxoffice
COPY --from=builder /usr/local/bin/boxoffice /usr/local/bin/boxoffice

# Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
USER 10001:10001
# The embedded mode keeps its SQLite file, dev sign-in secret and admin key
# in ./data: here, in the user's directory (mount a volume to keep them).
WORKDIR /var/lib/boxoffice
ENV BOXOFFICE__SERVER__LISTEN=0.0.0.0:8080 \
    BOXOFFICE__LOG__FORMAT=json

# 8080: fans, the health probes and the documentation (server.listen).
# 9090: the admin API, /metrics and the console, when
# BOXOFFICE__SERVER__ADMIN_LISTEN=0.0.0.0:9090 (keep it off the internet).
EXPOSE 8080 9090

# Ready: the database answers and the waiting room answers (docs/API.md).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health/ready"]

# SIGTERM starts the graceful stop: in-flight requests, then the workers,
# then the Kafka clients get server.shutdown_grace_secs each, so give the
# container 3 x that and a margin before it is killed (docker stop -t 35).
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/local/bin/boxoffice"]
CMD ["serve"]
