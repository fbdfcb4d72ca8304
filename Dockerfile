# syntax=docker/dockerfile:1
# edgefn as a container image: `edgefn serve` with the example functions, for Kubernetes
# (deploy/kubernetes/) or any container platform. See docs/scaling.md for how to build it, add
# your own functions and run it; host/tests/it/scaling.rs checks this file's facts against the
# Kubernetes manifests.
#
#   docker build -t edgefn:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e EDGEFN_ADMIN_TOKEN=$(openssl rand -hex 16) edgefn:0.1.0

ARG RUST_VERSION=1.95

# Build: the host and the example guests. The cache mounts keep crates and compiled dependencies
# between builds; what the image needs is copied out of them into /out.
FROM rust:${RUST_VERSION}-slim-trixie AS build
WORKDIR /src
RUN rustup target add wasm32-wasip1
COPY . .
# Stripped: the host is 23 MB without symbols against 54 MB with them (errors are logged with
# their context either way; only a panic's backtrace loses file and line).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p edgefn-host --config 'profile.release.strip=true' \
 && cargo build --profile guest --locked --target wasm32-wasip1 -p hello -p echo -p json -p config \
 && mkdir -p /out/bin /out/functions /out/cache \
 && cp target/release/edgefn /out/bin/ \
 && for f in hello echo json config; do cp "target/wasm32-wasip1/guest/$f.wasm" /out/functions/; done

# Run: glibc and libgcc only (all the host links against), no shell, as uid 65532.
FROM gcr.io/distroless/cc-debian13:nonroot
COPY --from=build /out/bin/edgefn /usr/local/bin/edgefn
COPY --from=build /out/functions/ /srv/edgefn/functions/
# The artifact cache: each function is compiled once into it, then loaded without compiling.
# Writable by the runtime user; a volume, so it outlives the container (Kubernetes mounts an
# emptyDir here, per pod).
COPY --from=build --chown=65532:65532 /out/cache/ /var/cache/edgefn/
ENV EDGEFN_CACHE_DIR=/var/cache/edgefn
VOLUME ["/var/cache/edgefn"]
# The manifest served when none is mounted over /etc/edgefn (Kubernetes mounts a ConfigMap there).
COPY <<EOF /etc/edgefn/edgefn.toml
[[function]]
name = "hello"
wasm = "/srv/edgefn/functions/hello.wasm"

[[function]]
name = "echo"
wasm = "/srv/edgefn/functions/echo.wasm"

[[function]]
name = "json"
wasm = "/srv/edgefn/functions/json.wasm"

[[function]]
name = "config"
wasm = "/srv/edgefn/functions/config.wasm"
env = { GREETING = "Hello from the container" }
EOF
USER 65532:65532
# 8080: the functions; 9090: the admin listener (probes, metrics, reload; a token is required
# because it is not loopback: set EDGEFN_ADMIN_TOKEN).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/edgefn"]
CMD ["serve", "--manifest", "/etc/edgefn/edgefn.toml", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9090"]
