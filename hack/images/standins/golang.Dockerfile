# A local stand-in for the public golang:<GO_VERSION> image (Debian bookworm), for building the
# repository's Dockerfile where no registry is reachable (the tests): hack/images.sh builds it from a
# `debootstrap --variant=minbase bookworm` root filesystem (rootfs.tar) and the Go toolchain of the
# Dockerfile's GO_VERSION (go/), with the official image's PATH, GOPATH and GOTOOLCHAIN.
FROM scratch
ADD rootfs.tar /
COPY go /usr/local/go
ARG GO_VERSION
ENV GOLANG_VERSION=${GO_VERSION} \
    GOTOOLCHAIN=local \
    GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
CMD ["bash"]
