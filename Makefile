GO ?= go

.PHONY: test build bench fuzz vet

# The README's test command: vet plus every test under the race detector.
test: vet
	$(GO) test -race -timeout 20m ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/vpclab ./cmd/vpclab

# Benchmarks with enough repetitions for benchstat; see bench/RESULTS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=10 ./bench/ ./firewall/ ./netstack/ | tee bench/latest.txt
	@echo "compare runs with: benchstat bench/latest.txt (go install golang.org/x/perf/cmd/benchstat@latest)"

# A short run of every fuzz target (10 s each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=10s $$pkg || exit 1; \
	  done; \
	done
