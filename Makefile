# vigil: the commands a newcomer runs. `make run` and `make test` install what is missing first.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
JOBS        ?= $(shell nproc)
WERROR      ?= ON
FUZZ_SECONDS ?= 15
CMAKE_FLAGS ?=
# `make install`: where the program goes (the configuration always goes to /etc/vigil and the
# state to /var/lib/vigil); DESTDIR stages it elsewhere (docs/install.md).
PREFIX      ?= /usr/local
DESTDIR     ?=
# ccache (when installed) keys on paths relative to the checkout, so every clone and build tree
# of this repo shares hits.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps build run test unit-asan fuzz bench clean install uninstall package

all: build

deps:
	@scripts/bootstrap.sh

build: deps
	cmake -S . -B $(BUILD) -DVIGIL_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The binary, /etc/vigil (config, IMA policy), the systemd units, man pages, completions, docs.
# Starts and enables nothing (docs/install.md).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

# Everything the last `make install` from this build wrote, but configuration you edited.
uninstall:
	DESTDIR="$(DESTDIR)" cmake -P $(BUILD)/cmake_uninstall.cmake

# The Debian package: $(BUILD)/vigil_<version>_amd64.deb (docs/install.md).
package: build
	cd $(BUILD) && cpack -G DEB
	@ls $(BUILD)/vigil_*_amd64.deb

# The main job as it exists today: make a key, sign a sample tree, verify it, tamper, report.
run: build
	VIGIL=$(BUILD)/src/vigil scripts/demo.sh

# Everything: unit tests under ASan+UBSan, the fuzzers for a bounded time, then every test
# (unit and privileged) in the warnings-as-errors build. The last summary covers the full suite.
test: build unit-asan fuzz
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

unit-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DVIGIL_WERROR=$(WERROR) -DVIGIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target vigil_unit_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure -j$(JOBS)

fuzz: deps
	CC=clang-19 CXX=clang++-19 cmake -S . -B $(FUZZ_BUILD) -DVIGIL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	scripts/run_fuzzers.sh $(FUZZ_BUILD)/tests/fuzz $(FUZZ_SECONDS)

bench: build
	VIGIL=$(BUILD)/src/vigil bench/sign.sh
	VIGIL=$(BUILD)/src/vigil bench/exec_overhead.sh
	VIGIL=$(BUILD)/src/vigil bench/events.sh
	cmake --build $(BUILD) -j$(JOBS) --target vigil_store_bench
	STORE_BENCH=$(BUILD)/bench/vigil_store_bench bench/store.sh
	cmake --build $(BUILD) -j$(JOBS) --target vigil_verifier_bench vigil_verifier_agents_bench
	VERIFIER_BENCH=$(BUILD)/bench/vigil_verifier_bench AGENTS_BENCH=$(BUILD)/bench/vigil_verifier_agents_bench bench/verifier.sh
	VIGIL=$(BUILD)/src/vigil CONNRATE=$(BUILD)/bench/vigil_netpolicy_connrate bench/netpolicy.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
