# syntax=docker/dockerfile:1
# The operator image: one static binary (musl) on distroless/static, running as uid 65532.
#   docker build -t ghcr.io/ssoperator/ssoperator:0.1.0 .
# The binary is built by scripts/build-static.sh, which scripts/test.sh also runs (and checks
# that the result is static and starts), so the build below is tested without a container engine.
FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# `ssoperator validate` embeds the generated CRD schemas (include_str!).
COPY crds ./crds
# Cargo reads every target and workspace member the manifest names before it builds one: the
# benchmark's source and the emulators crate are in the context for that alone.
COPY benches ./benches
COPY emulators ./emulators
COPY scripts/build-static.sh ./scripts/
RUN BIN=$(CARGO_TARGET_DIR=/src/target scripts/build-static.sh | tail -n 1) \
 && cp "$BIN" /ssoperator

# Certificates are not needed: the Kubernetes client trusts the cluster CA from the
# ServiceAccount mount, and provider calls use rustls with the webpki root certificates.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /ssoperator /ssoperator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ssoperator"]
