# vmmu: `make run` and `make test` are all a fresh Debian 12 machine needs.
# Both install missing Debian packages first (scripts/install-deps.sh).

BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
TSAN_BUILD  ?= build-tsan
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 10
PREFIX      ?= /usr/local
FUZZ_TARGETS = fuzz_trace fuzz_walk fuzz_elf

CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMMU_WERROR=ON

.PHONY: all deps build run test unit-test asan-test tsan-test fuzz fuzz-build install clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

# The default demonstration.
run: build
	@echo "== vmmu replay tests/traces/example.trace (TRACE-FORMAT.md's example)"
	@./$(BUILD)/vmmu replay --stats tests/traces/example.trace
	@echo
	@echo "== vmmu bench walk --quick"
	@./$(BUILD)/vmmu bench walk --quick
	@echo
	@echo "== vmmu bench toggle --quick"
	@./$(BUILD)/vmmu bench toggle --quick
	@echo
	@echo "== vmmu bench seed --plot $(BUILD)/seed-plots (docs/SEED.md; --full for the sweep)"
	@./$(BUILD)/vmmu bench seed --plot $(BUILD)/seed-plots
	@echo
	@echo "make run: the seed's table and vmmu's are plotted in $(BUILD)/seed-plots/table.png," \
		"cost per toggle against the working set in $(BUILD)/seed-plots/ws.png"

unit-test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan-test: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVMMU_WERROR=ON \
		-DVMMU_SANITIZE=address,undefined >/dev/null
	@ninja -C $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer over the tests whose threads share the VM: memslot
# changes under running vCPUs, cross-vCPU TLB requests, concurrent TDP faults,
# scenarios on one thread per vCPU.
TSAN_TESTS = unit/test_memslot|unit/test_tlb|unit/test_tdp|unit/test_tdp_stress|unit/test_scenario

tsan-test: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMMU_WERROR=ON \
		-DVMMU_SANITIZE=thread >/dev/null
	@ninja -C $(TSAN_BUILD) -j $(JOBS) test_memslot test_tlb test_tdp test_tdp_stress test_scenario
	@cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 VMMU_TEST_THREADED_ONLY=1 ctest --output-on-failure -j $(JOBS) \
		-R '^($(TSAN_TESTS))$$'

fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DVMMU_WERROR=ON -DVMMU_FUZZ=ON -DVMMU_SANITIZE=address,undefined >/dev/null
	@ninja -C $(FUZZ_BUILD) -j $(JOBS) $(FUZZ_TARGETS)

# Each fuzz target for FUZZ_SECONDS, from the corpus in the repository;
# new inputs go to a scratch copy, never into fuzz/corpus.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		c=$${t#fuzz_}; rm -rf $(FUZZ_BUILD)/corpus-$$c; mkdir -p $(FUZZ_BUILD)/corpus-$$c; \
		echo "== $$t for $(FUZZ_SECONDS)s"; \
		./$(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus-$$c fuzz/corpus/$$c $$(test $$c = trace && echo tests/traces) \
			>$(FUZZ_BUILD)/$$t.log 2>&1 \
			|| { tail -n 60 $(FUZZ_BUILD)/$$t.log; echo "$$t failed"; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' $(FUZZ_BUILD)/$$t.log; \
	done

test: unit-test asan-test tsan-test fuzz
	@echo "make test: unit, trace, sanitizer and fuzz runs passed"

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
