# Mainline's two everyday commands: `make demo` and `make test`.
GO       ?= go
BIN      := bin/mainline
PKGS     := ./...
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: build demo serve test lint imports fmt bench fuzz

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/mainline

## demo: build mainline and start the demo (needs Go, git and Docker).
demo: build
	./$(BIN) demo

## serve: build mainline and run the server against SQLite under ./mainline-data.
serve: build
	./$(BIN) serve

## test: formatting, vet, staticcheck, the import graph, then every test with
## the race detector and every benchmark once so none of them rots.
test: lint imports
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/cmd/mainline$$')
	@# cmd/mainline runs real mainline processes, Docker rollouts and
	@# failovers with timing-sensitive leases: alone, after the rest, so
	@# other packages' tests do not starve them.
	$(GO) test -race -count=1 -timeout 20m ./cmd/mainline
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) $(PKGS)

## imports: deploy uses only the standard library; providers never import the controller.
imports:
	@bad=$$($(GO) list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./deploy | grep -v '^github.com/mainline-cd/mainline/deploy$$' || true); \
	  if [ -n "$$bad" ]; then echo "deploy must import only the standard library, imports:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./providers/... | grep '^github.com/mainline-cd/mainline/\(controller\|web\|webhooks\|cmd\)' || true); \
	  if [ -n "$$bad" ]; then echo "providers must not import:"; echo "$$bad"; exit 1; fi
	@echo "import graph ok"

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: run each fuzz target of the untrusted-input parsers (webhook
## receiver, .mainline.yaml, verification suites) for FUZZTIME each.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./webhooks:FuzzHandler ./webhooks:FuzzSummarize ./deploy/config:FuzzParse ./deploy/verify:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t#*:}; \
	  echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
