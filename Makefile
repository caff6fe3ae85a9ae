# cityagent — the two commands that matter: `make run` and `make test`.
GO      ?= go
DATA    ?= ./data
PKGS    := ./...

.PHONY: run build test test-deps vet fmt bench fuzz clean eval bench-knowledge reliability

## run: start the server on the embedded default (no config, no network)
run:
	$(GO) run ./cmd/cityagent serve --data $(DATA)

## build: build bin/cityagent
build:
	$(GO) build -o bin/cityagent ./cmd/cityagent

## test: the whole test suite (what .ci/run runs): gofmt check, vet (with the bench-tagged files),
## staticcheck (pinned: honnef.co/go/tools v0.8.2), race-enabled tests. vet and staticcheck build with -race
## too, so the three steps share one build of every package (an empty build cache compiles it once, not three times)
test: test-deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet -race -tags bench $(PKGS)
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	GOFLAGS=-race ./bin/staticcheck -tags bench $(PKGS)
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

test-deps:
	./scripts/test-deps.sh

## eval: the shipped eval suites with the CI thresholds (also gated in `make test`); reports in ./eval-report.*
eval:
	$(GO) run ./cmd/cityagent eval evals/suites --thresholds evals/suites/thresholds.yaml \
	  --json eval-report.json --junit eval-report.xml --markdown eval-report.md

## bench: benchmarks behind the README's performance table
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./knowledge/... ./agents/... ./server/... ./actions/...

## bench-knowledge: the knowledge base's heavy benchmarks (docs/knowledge.md): ANN recall/QPS vs exact and
## chromem-go at 100k×384, store start-up/RSS/ingest at KB_N chunks (default 100k; KB_N=1000000 KB_TEXT=short
## for the 1M-chunk RSS run), retrieval quality per backend, language and Chinese segmentation
bench-knowledge:
	$(GO) test -tags bench -run '^$$' -bench 'BenchmarkANN$$' -benchtime 1x -timeout 60m ./knowledge/embedded/
	$(GO) test -tags bench -run '^$$' -bench 'BenchmarkStore$$' -benchtime 1x -timeout 120m ./knowledge/embedded/
	$(GO) test -tags bench -run '^$$' -bench 'BenchmarkQuality$$' -benchtime 1x ./knowledge/quality/

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
