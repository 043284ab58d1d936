# syntax=docker/dockerfile:1
#
# hookwall container image: a locked release build, then a distroless runtime with no shell,
# no package manager and a non-root user. State (the SQLite store) lives under the volume
# /var/lib/hookwall, so the root file system can be mounted read-only:
#
#   docker build -t hookwall .
#   docker run --read-only -v hookwall-data:/var/lib/hookwall \
#     -v "$PWD/deploy/hookwall.toml:/etc/hookwall/hookwall.toml:ro" -p 8080:8080 hookwall
#
# The build command below is the one `.ci/run` runs (`cargo build --release --locked --bin
# hookwall`), so CI proves it builds even on machines without a Docker engine.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directory are BuildKit cache mounts: a code change rebuilds hookwall,
# not its ~400 dependencies. The binary is copied out because cache mounts are not in layers.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hookwall \
    && install -D -m 0755 target/release/hookwall /out/hookwall \
    && install -d -m 0750 /out/state

# glibc, CA certificates (HTTPS destinations, Sentry) and the `nonroot` user (65532), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/hookwall /usr/local/bin/hookwall
COPY --from=build --chown=65532:65532 /out/state /var/lib/hookwall
USER 65532:65532
ENV HOOKWALL_CONFIG=/etc/hookwall/hookwall.toml \
    HOOKWALL_LOG_FORMAT=json
VOLUME ["/var/lib/hookwall"]
# 8080: the public listener (webhooks, /healthz, /readyz). 9091: the admin listener (/admin,
# /metrics); publish it on a private network only.
EXPOSE 8080 9091
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/hookwall", "health", "--url", "http://127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/hookwall"]
CMD ["serve"]
