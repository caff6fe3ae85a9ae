# cityagent — the two commands that matter: `make run` and `make test`.
GO      ?= go
DATA    ?= ./data
PKGS    := ./...

.PHONY: run build test test-deps vet fmt bench fuzz clean eval

## run: start the server on the embedded default (no config, no network)
run:
	$(GO) run ./cmd/cityagent serve --data $(DATA)

## build: build bin/cityagent
build:
	$(GO) build -o bin/cityagent ./cmd/cityagent

## test: the whole test suite (what .ci/run runs): vet, gofmt check, race-enabled tests
test: test-deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
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

## fuzz: short fuzzing runs of parsers and handlers
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzGenerate -fuzztime 60s ./llm/offline/
	$(GO) test -run '^$$' -fuzz FuzzGovernance -fuzztime 60s ./actions/

clean:
	rm -rf bin
