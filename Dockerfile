# syntax=docker/dockerfile:1
# The builder runs hack/build.sh, the same script as make build.
FROM golang:1.26 AS builder
ARG VERSION=v0.0.0-dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN hack/build.sh /out "${VERSION}"

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/easyservice-apiserver /easyservice-apiserver
USER 65532:65532
ENTRYPOINT ["/easyservice-apiserver"]
