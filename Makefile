# coffer — build, run and test. Every target installs what it needs, so a
# fresh clone on a Debian machine with Go and Node is enough.

GO        ?= go
TOOLS     := $(CURDIR)/.tools/bin
VERSITYGW := $(TOOLS)/versitygw
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/coffer-backup/coffer/internal/version.Version=$(VERSION)
RACE_PKGS := ./internal/engine/... ./internal/queue/...

export COFFER_VERSITYGW := $(VERSITYGW)

.PHONY: run build web test check-api-types test-go test-race test-web test-e2e bench tools chromium age postgres clean fmt vet

## run: build everything and start `coffer serve` on SQLite in ./data, printing the URL and first admin.
run: build
	@mkdir -p data
	COFFER_ADMIN_EMAIL=$${COFFER_ADMIN_EMAIL:-admin@example.com} ./bin/coffer serve

## build: the UI (web/dist) and the binary with it embedded, at bin/coffer.
build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/coffer ./cmd/coffer

web: web/node_modules/.installed
	cd web && npm run build

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

## test: every test — Go (race detector on engine and queue), the UI's unit tests and the browser end-to-end tests.
test: tools chromium age postgres web
	$(MAKE) vet
	$(MAKE) check-api-types
	$(MAKE) test-go
	$(MAKE) test-race
	$(MAKE) test-web
	$(MAKE) test-e2e

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## check-api-types: fail when web/src/api/generated.ts is not what the API's OpenAPI document gives (fix: go generate ./internal/httpapi).
check-api-types:
	$(GO) run ./internal/httpapi/cmd/gentypes -check

test-go:
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e /internal/engine -e /internal/queue)

test-race:
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

test-web: web/node_modules/.installed
	cd web && npm test

test-e2e: build
	$(GO) test -count=1 -timeout 15m -tags e2e ./test/e2e/...

## bench: Go benchmarks and the load script (figures for the closing notes).
bench: tools build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/archive/... ./internal/store/...
	$(GO) run ./scripts/bench

## tools: the S3 server the tests run against (versitygw), built from the Go module proxy once.
tools: $(VERSITYGW)

$(VERSITYGW):
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

## chromium: Debian's Chromium for the browser tests, when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

## age: Debian's age CLI, which the archive encryption interop tests run (required under CI=true).
age:
	@command -v age >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y age)

## postgres: make sure the machine's PostgreSQL answers on 127.0.0.1:5432.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; echo "PostgreSQL did not start on 127.0.0.1:5432"; exit 1

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin web/dist/assets web/dist/index.html
