# sim as a container image: a static Go binary on a small Debian.
#
#   docker build -t sim:local .        (or: docker-compose build)
#   docker run --rm sim:local serve --help

FROM golang:1.26 AS build
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

# debian-slim rather than distroless: `ss` (iproute2) must run inside the container, because
# socket states such as CLOSE_WAIT live in the container's network namespace.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/sim /usr/local/bin/sim
# The split topology's embedded static server is this same binary, started as a child.
ENTRYPOINT ["sim"]
EXPOSE 8080 8081
CMD ["serve", "--help"]
