# The two commands a new user needs: `make demo` and `make test`.
# Both install what they need (Go modules, DuckDB reader, S3 server) into
# project-local, git-ignored caches.
GO       ?= go
export GOFLAGS := -buildvcs=false

.PHONY: build demo test tools vet bench clean

build:
	$(GO) build -o bin/etl ./cmd/etl

## demo: run the whole pipeline against the built-in vendor emulators into ./out
demo: build
	./bin/etl demo --out ./out

## tools: install the DuckDB reader and the S3 server the tests use (once)
tools:
	bash scripts/tools.sh

## test: every test, including end-to-end runs of the binary read back by DuckDB
test: tools vet
	$(GO) test -count=1 -timeout 30m ./...

vet:
	@files=$$(find . -name '*.go' -not -path './.cache/*' | xargs gofmt -l); \
	  if [ -n "$$files" ]; then echo "gofmt needed: $$files"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin out
