# easyservice-apiserver's image: make image (or the docker build command it prints).
#
# The builder runs hack/build.sh, the very script `make build` runs: the same `go build` command
# (CGO_ENABLED=0, -trimpath, the version ldflags), so the image holds exactly what make build proves.
# It builds on the build machine's platform for the target platform (docker buildx --platform).
# It needs BuildKit (DOCKER_BUILDKIT=1, or docker buildx), whose built-in frontend reads it: no
# syntax line, which would pull a frontend image.

# The Go toolchain: Go 1.26 (go.mod's), pinned to a patch release; bump it deliberately.
ARG GO_VERSION=1.26.8
# The base images, public by default. A build may name others with --build-arg, e.g. a mirror, or
# the local stand-ins of the tests (hack/images.sh), which build with no registry.
ARG GOLANG_IMAGE=golang:${GO_VERSION}
ARG BASE_IMAGE=gcr.io/distroless/static:nonroot

FROM --platform=$BUILDPLATFORM ${GOLANG_IMAGE} AS builder
# Never download another toolchain: build with the pinned one.
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
# The module proxy and checksum database: Go's defaults unless given (a corporate proxy; the
# tests' offline proxy on 127.0.0.1, with --network host). go.sum holds every module's hash.
ARG GOPROXY
ARG GOSUMDB
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION: the server's semantic version (make image passes it); SOURCE_DATE_EPOCH: the build date
# recorded in the binary (default 0, for reproducible builds).
ARG VERSION=v0.0.0-dev
ARG SOURCE_DATE_EPOCH
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} hack/build.sh /out "${VERSION}"

# Static, no shell, no package manager; runs as the nonroot user (65532).
FROM ${BASE_IMAGE}
ARG VERSION=v0.0.0-dev
LABEL org.opencontainers.image.title="easyservice-apiserver" \
      org.opencontainers.image.description="EasyService aggregated API server for Kubernetes" \
      org.opencontainers.image.source="https://github.com/easyservice/easyservice" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/easyservice-apiserver /easyservice-apiserver
USER 65532:65532
ENTRYPOINT ["/easyservice-apiserver"]
