# sim as a container image: a static Go binary on a small Debian.
#
#   docker build -t sim:local .        (or: docker-compose build)
#   docker run --rm sim:local serve --help
#
# Both base images are build arguments whose defaults are the official images, so a plain build
# is what it always was. A build with no registry points them at images of its own:
# deploy/compose/ci.sh builds BASE_IMAGE from debootstrap and uses the `runtime` stage alone
# (docker build --target runtime), then adds a sim binary built on the host
# (deploy/compose/prebuilt.Dockerfile), because no golang image can be had without a registry.

ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=debian:bookworm-slim

# The runtime stage comes first: Docker's classic builder builds every stage up to --target,
# so `--target runtime` is the one build that never needs GO_IMAGE.
# debian-slim rather than distroless: `ss` (iproute2) must run inside the container, because
# socket states such as CLOSE_WAIT live in the container's network namespace.
FROM ${BASE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 \
 && rm -rf /var/lib/apt/lists/*
# The split topology's embedded static server is this same binary, started as a child.
ENTRYPOINT ["sim"]
EXPOSE 8080 8081
CMD ["serve", "--help"]

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a source change does not re-download them.
COPY go.mod go.sum ./
RUN go mod download
# Only the Go source folders: run records (runs/), local binaries and editor files stay out.
COPY cmd ./cmd
COPY internal ./internal
COPY loadprofiles ./loadprofiles
COPY results ./results
COPY simulator ./simulator
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sim ./cmd/sim

FROM runtime AS sim
COPY --from=build /out/sim /usr/local/bin/sim
