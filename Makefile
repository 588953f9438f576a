# The two commands of the README are `make dev` and `make test`.
.PHONY: dev test bench chaos build

dev:
	scripts/dev.sh $(ARGS)

test:
	scripts/test.sh

build:
	go build -o bin/cmo ./cmd/cmo

bench:
	scripts/bench.sh

chaos:
	scripts/chaos.sh
