# coffer — build, run and test. Every target installs what it needs, so a
# fresh clone on a Debian machine with Go and Node is enough.

GO          ?= go
TOOLS       := $(CURDIR)/.tools/bin
VERSITYGW   := $(TOOLS)/versitygw
STATICCHECK := $(TOOLS)/staticcheck
DEADCODE    := $(TOOLS)/deadcode
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/coffer-backup/coffer/internal/version.Version=$(VERSION)
RACE_PKGS   := ./internal/engine/... ./internal/queue/...
# The race tests that run in a test process of their own (they take half the
# race run's time), and so beside the others: MongoDB's, and the incremental
# chains' (about 40 s), which keep the two processes about even.
RACE_SPLIT  := ^(TestMongo|TestIncremental|TestPlanFullEvery)
# The binary the end-to-end tests run: the release build plus the crash
# tests' hook (build tag crashhook), which bin/coffer does not have.
E2E_BIN     := $(CURDIR)/bin/coffer-e2e
# The crash hook's variable: in bin/coffer-e2e, never in bin/coffer.
CRASH_VAR   := COFFER_TEST_CRASH_AT

# One build configuration for the release binary, the e2e binary, vet and
# the tests (no cgo, trimmed paths): every package compiles once and each
# later step reuses it from the build cache. Only the race detector, which
# needs cgo, compiles its own.
export CGO_ENABLED := 0
export GOFLAGS     := $(strip $(GOFLAGS) -trimpath)
export COFFER_VERSITYGW := $(VERSITYGW)

.PHONY: run build web test check lint vet tidy staticcheck deadcode check-api-types test-go test-race test-web test-e2e \
	race-build test-race-mongo test-race-rest e2e-bin bench tools packages chromium age postgres clean fmt

## run: build everything and start `coffer serve` on SQLite in ./data, printing the URL and first admin.
run: build
	@mkdir -p data
	COFFER_ADMIN_EMAIL=$${COFFER_ADMIN_EMAIL:-admin@example.com} ./bin/coffer serve

## build: the UI (web/dist) and the binary with it embedded, at bin/coffer (no crash hook in it).
build: web
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/coffer ./cmd/coffer
	@if grep -q '$(CRASH_VAR)' bin/coffer; then echo "bin/coffer contains the crash tests' hook ($(CRASH_VAR)); it must be built without the crashhook tag"; exit 1; fi

## e2e-bin: bin/coffer-e2e, the release build with the crash tests' hook, for the end-to-end tests
## (after vet, so that it links what vet compiled instead of compiling it again).
e2e-bin: web vet
	$(GO) build -tags crashhook -ldflags '$(LDFLAGS)' -o $(E2E_BIN) ./cmd/coffer
	@grep -q '$(CRASH_VAR)' $(E2E_BIN) || { echo "$(E2E_BIN) lacks the crash hook"; exit 1; }

web: web/node_modules/.installed
	cd web && npm run build

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

## test: every check and test, side by side (make -j8, each target's output
## printed whole when it ends). go vet compiles every package once; the Go
## tests, the binaries, the tools and the lint steps reuse that build (they
## wait for vet). The race detector's build is separate, so it starts at
## once, and its slowest tests (MongoDB through the in-process FerretDB) run
## in a process of their own beside the others.
test:
	$(MAKE) -j8 --output-sync=target test-race check test-go test-web test-e2e

## check: formatting, go vet, go.mod tidiness and the web UI's API types
## against the served OpenAPI document (part of make test).
check: vet tidy check-api-types

## lint: check, then staticcheck and dead code. Not part of make test: cold,
## building and running the two linters costs about 150 s of CPU, which the
## 15-minute budget of a cold make test on two cores does not have. Run it
## before a commit that touches Go code.
lint: check staticcheck deadcode

# vet compiles package web, which embeds web/dist: it waits for the UI build, so
# that it never lists the files of a dist directory that vite is rewriting.
vet: web
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/...

tidy:
	$(GO) mod tidy -diff

## check-api-types: fail when web/src/api/generated.ts is not what the API's OpenAPI document gives
## (fix: go generate ./internal/httpapi). After vet, whose build it links.
check-api-types: vet
	$(GO) run ./internal/httpapi/cmd/gentypes -check

staticcheck: $(STATICCHECK)
	nice $(STATICCHECK) ./...

## deadcode: fails on functions that neither a command nor a test reaches.
deadcode: $(DEADCODE)
	@out=$$(nice $(DEADCODE) -test ./...); \
	if [ -n "$$out" ]; then echo "unreachable code; remove it:"; echo "$$out"; exit 1; fi

test-go: vet tools postgres age
	$(GO) test -count=1 -parallel 8 -timeout 20m $$($(GO) list ./... | grep -v -e /internal/engine -e /internal/queue)

## test-race: engine and queue under the race detector: its build first (no
## prerequisites, so make starts it at once), then two test processes.
test-race: test-race-mongo test-race-rest

race-build:
	CGO_ENABLED=1 $(GO) test -count=1 -race -run '^$$' $(RACE_PKGS) >/dev/null

test-race-mongo: race-build tools postgres
	CGO_ENABLED=1 $(GO) test -count=1 -race -timeout 20m -run '$(RACE_SPLIT)' ./internal/engine/

test-race-rest: race-build tools postgres
	CGO_ENABLED=1 $(GO) test -count=1 -race -timeout 20m -skip '$(RACE_SPLIT)' $(RACE_PKGS)

test-web: web/node_modules/.installed
	cd web && npm test

test-e2e: e2e-bin tools postgres chromium age
	COFFER_BIN=$(E2E_BIN) $(GO) test -count=1 -timeout 15m -parallel 4 -tags e2e ./test/e2e/...

## bench: Go benchmarks and the load script (figures for the closing notes).
bench: tools build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/archive/... ./internal/store/...
	$(GO) run ./scripts/bench

## tools: the S3 server the tests run against (versitygw). It and the linters are
## tool dependencies in go.mod (versions pinned there): they build with the
## module's own versions of shared packages (the AWS SDK, golang.org/x/...),
## so what the tests compile is not compiled a second time for them.
tools: $(VERSITYGW)

$(VERSITYGW) $(STATICCHECK) $(DEADCODE): go.mod | vet
	$(GO) build -o $@ $(filter %/$(notdir $@),$(TOOL_PKGS))

TOOL_PKGS := github.com/versity/versitygw/cmd/versitygw honnef.co/go/tools/cmd/staticcheck golang.org/x/tools/cmd/deadcode

## packages: Debian's packages the tests need, installed in one apt-get
## call when any is missing: Chromium (browser tests), age (the archive
## encryption interop tests; required under CI=true), jq (the end-to-end
## test runs docs/restore-by-hand.md's chain restore) and PostgreSQL (set up
## by scripts/postgres.sh). One call, because make runs targets in parallel
## and two apt-get at once fail on apt's lock.
packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v age >/dev/null 2>&1 || missing="$$missing age"; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	command -v pg_lsclusters >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "packages: installing$$missing"; \
		apt-get -o DPkg::Lock::Timeout=300 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing >/dev/null; \
	fi

## chromium, age: the browser and age CLI (see packages).
chromium age: packages

## postgres: PostgreSQL on 127.0.0.1:5432 with user postgres let in from this host (installed from Debian's packages when missing).
postgres: packages
	@scripts/postgres.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin web/dist/assets web/dist/index.html
