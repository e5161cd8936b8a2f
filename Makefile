# The two commands a new user needs: `make demo` and `make test`.
# Both install what they need (Go modules, DuckDB reader, S3 server) into
# project-local, git-ignored caches.
GO       ?= go
export GOFLAGS := -buildvcs=false

.PHONY: build demo test tools vet bench soak clean

build:
	$(GO) build -o bin/etl ./cmd/etl

## demo: run the whole pipeline against the built-in vendor emulators into ./out
demo: build
	./bin/etl demo --out ./out

## tools: install the DuckDB reader and the S3 server the tests use (once)
tools:
	bash internal/tools/tools.sh

## test: every test, including end-to-end runs of the binary read back by DuckDB
test: tools vet
	$(GO) test -count=1 -timeout 30m ./...
	CGO_ENABLED=0 $(GO) test -count=1 -run 'TestZstdCodec' ./load

## bench: the performance benchmarks (not part of test); writes bench/results.md.
## BENCHFLAGS="-scale 0.1" for a quick look, "-only 2,5" for some of them.
bench: build tools
	cd bench/parquetgo && $(GO) build -o ../../bin/bench-parquetgo .
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench $(BENCHFLAGS)

## soak: the reliability suite's long variant: 100 kill/restart cycles at
## random points (ETL_SOAK_CYCLES=n for another count; ETL_RELIABILITY_SEED
## repeats a run), then the count of cycles and of rows lost or duplicated
soak: tools
	@echo "soak: $${ETL_SOAK_CYCLES:-100} kill/restart cycles; full log in .cache/soak.log"
	@ETL_SOAK_CYCLES=$${ETL_SOAK_CYCLES:-100} $(GO) test -count=1 -timeout 60m -run 'TestKillRestart$$' -v ./internal/reliability/ \
	  > .cache/soak.log 2>&1; rc=$$?; grep -E -e '--- FAIL|^FAIL|^ok|seed [0-9]|soak:' .cache/soak.log; exit $$rc

vet:
	@files=$$(find . -name '*.go' -not -path './.cache/*' | xargs gofmt -l); \
	  if [ -n "$$files" ]; then echo "gofmt needed: $$files"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin out
