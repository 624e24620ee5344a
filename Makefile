GO ?= go

.PHONY: test build bench fuzz vet setup

# The README's test command: vet, every test under the race detector, then
# the allocation tests without it (the race detector allocates, so they skip
# under -race: this pass is what proves the per-frame path allocates nothing).
test: vet
	$(GO) test -race -timeout 20m ./...
	$(GO) test -count=1 -run 'Alloc' ./...

vet:
	$(GO) vet ./...

# Installs the real clients the tests use (ssh, curl, nc, tcpdump, tshark)
# and the tools of the Linux namespace baseline (ip, iptables: kernel-check)
# when they are missing; needs root (apt-get). Tests that need a missing tool
# skip, saying so, unless VPCLAB_REQUIRE_TOOLS=1 (CI sets it) makes them fail.
setup:
	@missing=""; command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v nc >/dev/null || missing="$$missing netcat-openbsd"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

build:
	$(GO) build -o bin/vpclab ./cmd/vpclab

# Benchmarks with enough repetitions for benchstat; see bench/RESULTS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=10 ./bench/ ./firewall/ ./netstack/ | tee bench/latest.txt
	@echo "compare runs with: benchstat bench/latest.txt (go install golang.org/x/perf/cmd/benchstat@latest)"

# A short run of every fuzz target (10 s each). The fuzzer minimizes every
# input that finds new coverage, for up to a minute by default, counting no
# execs meanwhile: in a 10 s run one such input took the whole budget. 1000
# tries per input keep the runs fuzzing (a failing input is minimized as far).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=10s -fuzzminimizetime=1000x $$pkg || exit 1; \
	  done; \
	done
