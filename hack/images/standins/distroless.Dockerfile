# A local stand-in for gcr.io/distroless/static:nonroot, for building the repository's Dockerfile
# where no registry is reachable (the tests): what distroless/static has, from the same Debian
# release (bookworm) and nothing else: the users and groups (passwd, group; nonroot is 65532),
# nsswitch.conf, CA certificates, tzdata, netbase's /etc/services and /etc/protocols, os-release,
# /tmp (1777) and /home/nonroot. No shell, no package manager. hack/images.sh makes files.tar.
FROM scratch
ADD files.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
