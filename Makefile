# cityagent — the two commands that matter: `make run` and `make test`.
GO      ?= go
DATA    ?= ./data
PKGS    := ./...

.PHONY: run build test test-deps vet fmt bench fuzz clean eval bench-knowledge reliability bench-load

## run: start the server on the embedded default (no config, no network)
run:
	$(GO) run ./cmd/cityagent serve --data $(DATA)

## build: build bin/cityagent
build:
	$(GO) build -o bin/cityagent ./cmd/cityagent

## test: the whole test suite (what .ci/run runs): gofmt check, vet (with the bench-tagged files),
## staticcheck (pinned: honnef.co/go/tools v0.8.2), race-enabled tests. vet and staticcheck build with -race
## too, so the three steps share one build of every package (an empty build cache compiles it once, not three times).
## Nothing waits that need not: staticcheck is installed while vet compiles, and runs beside the tests (which spend
## much of their time waiting on servers and child processes); the tests skip go test's own vet pass (-vet=off),
## a subset of the full go vet that has just run. Every step still gates: the target fails if any of them fails.
## GORACE=atexit_sleep_ms=50: a race-enabled binary sleeps 1 s at exit by default (for late race reports), which
## 67 test binaries and every race-built child process a test starts pay in wall time; a race during a test is
## reported and fails that test without the sleep.
## RACE: the race detector on, except inside SQLite's engine (modernc.org/sqlite/lib, SQLite's C code translated
## to Go, whose memory is its own heap behind SQLite's own locks): instrumenting it found nothing of ours and made every
## test that touches the embedded store 2-3x slower (store: 16.4 → 6.1 s of CPU). Our code, the driver package
## (modernc.org/sqlite), modernc.org/libc (whose mutexes SQLite locks with) and the standard library stay instrumented,
## so a race on our values is still reported (checked with a deliberately racy test beside store calls). Not done for
## the generated OpenAI SDK, though its race compile is the longest step of a cold build: without instrumentation there
## the detector reported false races in encoding/json's and protobuf's own caches across cmd/cityagent's tests.
RACE := -race -gcflags=modernc.org/sqlite/lib=-race=false
test: export GORACE = atexit_sleep_ms=50
test: test-deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@mkdir -p bin; echo "GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2 &"; \
	  GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2 & install=$$!; \
	  echo "$(GO) vet $(RACE) -tags bench $(PKGS)"; $(GO) vet $(RACE) -tags bench $(PKGS); vet=$$?; \
	  wait $$install || { echo "make test: installing staticcheck failed"; exit 1; }; exit $$vet
	@echo "GOFLAGS='$(RACE)' ./bin/staticcheck -tags bench $(PKGS) &"; \
	  GOFLAGS='$(RACE)' ./bin/staticcheck -tags bench $(PKGS) >bin/staticcheck.out 2>&1 & lint=$$!; \
	  echo "$(GO) test $(RACE) -vet=off -count=1 -timeout 12m $(PKGS)"; $(GO) test $(RACE) -vet=off -count=1 -timeout 12m $(PKGS); tests=$$?; \
	  wait $$lint; lintrc=$$?; cat bin/staticcheck.out; \
	  if [ $$lintrc -ne 0 ]; then echo "make test: staticcheck failed"; fi; \
	  [ $$tests -eq 0 ] && [ $$lintrc -eq 0 ]

test-deps:
	./scripts/test-deps.sh

## eval: the shipped eval suites with the CI thresholds (also gated in `make test`); reports in ./eval-report.*
eval:
	$(GO) run ./cmd/cityagent eval evals/suites --thresholds evals/suites/thresholds.yaml \
	  --json eval-report.json --junit eval-report.xml --markdown eval-report.md

## bench: benchmarks behind the README's performance table
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./knowledge/... ./agents/... ./server/... ./actions/...

## bench-knowledge: the knowledge base's heavy benchmarks (docs/knowledge.md): ANN recall/QPS vs exact on
## synthetic vectors (and chromem-go) and on the hashed embedder's vectors of bilingual text, at ANN_N (default
## 100k); store start-up/RSS/ingest/search at KB_N chunks (default 100k; KB_N=1000000 KB_TEXT=short for 1M),
## kept in KB_DIR for the over-HTTP search benchmark; retrieval quality per backend, language and segmentation
KB_DIR ?= /tmp/cityagent-bench-kb
bench-knowledge:
	$(GO) test -tags bench -run '^$$' -bench 'BenchmarkANN$$' -benchtime 1x -timeout 60m ./knowledge/embedded/
	$(GO) test -v -tags bench -run '^$$' -bench 'BenchmarkANNHashed$$' -benchtime 1x -timeout 60m ./knowledge/embedded/
	KB_DIR=$(KB_DIR) $(GO) test -tags bench -run '^$$' -bench 'BenchmarkStore$$' -benchtime 1x -timeout 120m ./knowledge/embedded/
	KB_DIR=$(KB_DIR) $(GO) test -run '^$$' -bench 'BenchmarkSearchHTTP$$' -benchtime 1x -timeout 30m ./server/
	$(GO) test -tags bench -run '^$$' -bench 'BenchmarkQuality$$' -benchtime 1x ./knowledge/quality/

## bench-load: the load benchmark behind the README's performance table (docs/performance.md), ~3 min: builds
## bin/cityagent, starts it (embedded default; and with the OpenAI provider against a zero-latency model server)
## beside a floor (bare Fiber + one SQLite insert), drives each with wrk (closed loop, 64 connections) and a
## fixed-rate open-loop driver, reads server CPU from /proc and prints a table; then holds 10,000 event streams
## open on the embedded server and times turns meanwhile (a second table). BENCH_LOAD_FLAGS: e.g. -d 30s -rates 500,1000 -streams 0
BENCH_LOAD_FLAGS ?=
bench-load: build
	./scripts/bench-deps.sh
	$(GO) run ./cmd/benchload -bin bin/cityagent $(BENCH_LOAD_FLAGS)

## fuzz: short fuzzing runs of parsers and handlers
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzGenerate -fuzztime 60s ./llm/offline/
	$(GO) test -run '^$$' -fuzz FuzzGovernance -fuzztime 60s ./actions/
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./knowledge/extract/

## reliability: the reliability suite (docs/reliability.md), ~6 min on 2 cores, not part of `make test`: route fuzzing
## (FUZZTIME per family), the bad-input corpus, kill -9 during writes, fault injection, a 2,000-stream burst; prints one table
FUZZTIME ?= 10s
reliability:
	$(GO) run ./reliability/cmd/cityagent-reliability -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
