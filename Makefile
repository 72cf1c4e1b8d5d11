# keylin — the entry points. `make help` lists them.
GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
NAME          ?=
FUZZTIME      ?= 10s
BENCHTIME     ?= 1s
SWAGGER_UI    ?= 5.35.0
LOADTEST_ARGS ?=
export CGO_ENABLED ?= 1

.PHONY: help run build test test-short generate migrate-diff migrate-hash migrate migrate-status lint bench loadtest fuzz check-generated test-extend vendor-swagger-ui ci

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/keylin
	$(GO) build -o bin/keylin ./cmd/keylin

run: build ## serve on the embedded default database (keylin.db); writes a dev JWT_SECRET to .env if none
	@if [ -z "$$JWT_SECRET" ] && ! grep -qs '^JWT_SECRET=' .env; then \
		echo "warning: no JWT_SECRET set: writing a random development secret to .env (git-ignored); never use it in production" >&2; \
		printf 'JWT_SECRET=%s\n' "$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >> .env; \
	fi
	./bin/keylin serve $(ARGS)

test: ## run every test on SQLite and PostgreSQL, with the race detector; then the timing test without it
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run '^TestLoginTimingUnknownVersusWrongPassword$$' -v ./authn/

test-short: ## quick tests (skips the slow hashing flood)
	$(GO) test -short -count=1 ./...

generate: ## regenerate the ent code from ent/schema
	$(GO) generate ./ent/...

migrate-diff: ## write the next migration for both dialects: make migrate-diff NAME=add_something
	@test -n "$(NAME)" || { echo "usage: make migrate-diff NAME=add_something" >&2; exit 2; }
	$(GO) run ./cmd/keylin migrate diff $(NAME)

migrate-hash: ## re-hash atlas.sum after an intended edit of a migration file
	$(GO) run ./cmd/keylin migrate hash

migrate: ## apply pending migrations to DATABASE_URL (default: keylin.db)
	$(GO) run ./cmd/keylin migrate apply

migrate-status: ## show the migration status of DATABASE_URL
	$(GO) run ./cmd/keylin migrate status

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## run the benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

loadtest: ## load-test keylin over TCP against the bare baseline, on SQLite: make loadtest LOADTEST_ARGS="--db postgres --workloads me"
	$(GO) run ./cmd/keylin-bench --db sqlite $(LOADTEST_ARGS)

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz='^FuzzParsePHC$$' -fuzztime=$(FUZZTIME) ./authn/
	$(GO) test -run='^$$' -fuzz='^FuzzParseAccess$$' -fuzztime=$(FUZZTIME) ./authn/
	$(GO) test -run='^$$' -fuzz='^FuzzHashRefreshToken$$' -fuzztime=$(FUZZTIME) ./authn/
	$(GO) test -run='^$$' -fuzz='^FuzzLoginForm$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=0 ./httpapi/
	$(GO) test -run='^$$' -fuzz='^FuzzJSONBody$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=0 ./httpapi/

check-generated: ## fail when generated code or migrations are stale
	$(GO) generate ./ent/...
	$(GO) run ./cmd/keylin migrate diff --dialect all ci_freshness_check
	@status=$$(git status --porcelain -- ent go.mod go.sum); if [ -n "$$status" ]; then \
		echo "generated code or migrations are stale; run 'make generate' and 'make migrate-diff NAME=…' and commit:"; \
		echo "$$status"; git diff --stat -- ent; exit 1; fi

test-extend: ## examples/extend, the library-user example module: generated code fresh, then its tests
	cd examples/extend && $(GO) generate ./ent/... && \
	status=$$(git status --porcelain -- .) && if [ -n "$$status" ]; then \
		echo "examples/extend: generated code is stale; run 'go generate ./ent/...' there and commit:"; \
		echo "$$status"; git diff --stat -- .; exit 1; fi && \
	$(GO) vet ./... && $(GO) run $(STATICCHECK) ./... && \
	$(GO) test -race -count=1 ./...

vendor-swagger-ui: ## re-vendor the /docs page's Swagger UI from npm: make vendor-swagger-ui SWAGGER_UI=5.x.y
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent "swagger-ui-dist@$(SWAGGER_UI)" >/dev/null && tar xzf swagger-ui-dist-$(SWAGGER_UI).tgz) && \
	for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do \
		cp "$$tmp/package/$$f" openapi/ui/$$f || exit 1; done && \
	printf 'swagger-ui-dist %s (npm), tarball sha512 %s\n' "$(SWAGGER_UI)" \
		"$$(sha512sum "$$tmp/swagger-ui-dist-$(SWAGGER_UI).tgz" | cut -d' ' -f1)" > openapi/ui/VERSION && \
	cat openapi/ui/VERSION

ci: check-generated lint test test-extend fuzz ## what .ci/run runs
