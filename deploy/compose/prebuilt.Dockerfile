# The sim image from a binary built outside Docker, for a build with no registry (no golang
# image): the Dockerfile's runtime stage, built on its own (--target runtime), plus the binary.
# deploy/compose/ci.sh builds it with a context holding only that binary:
#
#   CGO_ENABLED=0 go build -trimpath -o DIR/sim ./cmd/sim
#   docker build --build-arg RUNTIME_IMAGE=... -f deploy/compose/prebuilt.Dockerfile DIR
ARG RUNTIME_IMAGE
FROM ${RUNTIME_IMAGE}
COPY sim /usr/local/bin/sim
