# syntax=docker/dockerfile:1
#
# One image for every cmo role: docker-compose.yml runs it as `migrate`,
# `server` and `worker` (the subcommand is the container command).
#
#   docker build -t cmo .
#   docker run --rm cmo --help

##### build #####
FROM golang:1.26 AS build
WORKDIR /src

# Dependencies first, so that editing the code does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# CGO_ENABLED=0: a static binary that does not depend on the builder's glibc
# (the runtime stage below is a different Debian release than golang:1.26 may
# be). Nothing cmo imports needs cgo; net and os/user have pure-Go fallbacks.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cmo ./cmd/cmo

##### runtime #####
FROM debian:bookworm-slim

# ca-certificates: TLS to channel APIs and managed PostgreSQL/Temporal.
# curl: the HTTP healthcheck in docker-compose.yml (GET /readyz); the cmo
# binary itself has no HTTP-client subcommand.
# hunspell-*: the dictionaries the check step spells Catalan, Spanish and
# English with (the worker reads them from /usr/share/hunspell).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl hunspell-ca hunspell-es hunspell-en-us \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 cmo \
    && useradd --system --uid 10001 --gid cmo --home-dir /var/lib/cmo --create-home --shell /usr/sbin/nologin cmo

COPY --from=build /out/cmo /usr/local/bin/cmo

# Numeric so that orchestrators enforcing runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /var/lib/cmo

# CMO_HTTP_ADDR defaults to :8080 (cmo server).
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/cmo"]
CMD ["server"]
