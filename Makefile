# enforcer build. `make demo` and `make test` are the two commands a new
# host needs; both install their own dependencies (scripts/deps.sh).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/enforcer
BENCH_OUT ?=
FUZZTIME ?= 15s

.PHONY: all deps generate check-generated build test test-unit test-privileged fuzz bench bench-attack demo demo-clean lint clean

all: build

# Installs clang, libbpf headers, iproute2, nftables, dovecot... when missing.
deps:
	@bash scripts/deps.sh

# Rebuilds the committed bpf2go outputs from bpf/*.c.
generate: deps
	$(GO) generate ./loader/...

# Fails if the committed generated files differ from what the C sources give.
check-generated: generate
	@git diff --exit-code --stat -- loader/ || { echo "generated BPF files are stale: run 'make generate' and commit" >&2; exit 1; }

build:
	$(GO) build -o $(BIN) ./cmd/enforcer

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting" >&2; exit 1; }
	$(GO) vet ./...

# Everything, privileged tests included (run as root; in CI a missing
# privilege or tool fails instead of skipping), then a short bounded fuzz
# run of each fuzz target beyond its seed corpus.
test: deps check-generated lint
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz

# One bounded run per fuzz target (go test -fuzz takes one target at a time).
FUZZ_TARGETS := \
	./loader/:FuzzDatapathMatchesModel \
	./policy/:FuzzJudge \
	./cmd/enforcer/config/:FuzzParse \
	./policy/iprange/:FuzzCover \
	./cmd/enforcer/config/:FuzzParseRemoteTransforms \
	./geoip/:FuzzOpen \
	./l7/wbxml/:FuzzRoundTrip \
	./l7/eas/:FuzzParseQuery \
	./l7/eas/:FuzzUnmarshalBinary \
	./l7/eas/:FuzzParseAuthorization \
	./l7/eas/:FuzzFileReferenceKey \
	./l7/device/:FuzzGlob \
	./l7/device/:FuzzParseOSVersion \
	./l7/device/:FuzzDecide \
	./l7/proxy/:FuzzHandler \
	./l7/proxy/:FuzzLogAuthScheme \
	./l7/proxy/:FuzzUPNFromSAN \
	./l7/proxy/:FuzzEWSOperation \
	./l7/devicesync/:FuzzPushAPI \
	./l7/transform/:FuzzWBXML \
	./l7/transform/links/:FuzzRewrite \
	./l7/transform/classify/:FuzzClassify \
	./l7/transform/mime/:FuzzTransform \
	./l7/transform/links/:FuzzReadDomainsCSV \
	./l7/transform/attach/:FuzzDecrypter \
	./l7/device/:FuzzReadCSV \
	./l7/csvcell/:FuzzEscape \
	./geoip/update/:FuzzLoadConfig

fuzz:
	@bash scripts/fuzz.sh $(GO) $(FUZZTIME) $(FUZZ_TARGETS)

# The attack harness's short form follows the micro-benchmarks; with
# BENCH_OUT=bench.json its rows go to bench.attack.json (plot beside it).
bench: deps
	$(GO) run ./test/bench $(if $(BENCH_OUT),-out $(BENCH_OUT))
	$(GO) run ./test/attack -short $(if $(BENCH_OUT),-out $(basename $(BENCH_OUT)).attack.json)

# Floods a protected host in a namespace lab: drop rate per core and
# legitimate transactions held, no filter vs nftables vs iptables+ipset vs
# XDP (about 4 minutes; rows to BENCH_OUT, plot to BENCH_OUT.png).
bench-attack: deps
	$(GO) run ./test/attack $(if $(BENCH_OUT),-out $(BENCH_OUT))

demo: deps build
	@bash scripts/demo.sh

demo-clean:
	@bash scripts/demo.sh clean

clean:
	rm -rf bin
