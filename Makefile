# SPDX-License-Identifier: Apache-2.0
# The front door for people; CMake does the work. `make help` lists targets.
BUILD       ?= build
CHECK_BUILD ?= build-check
BENCH_BUILD ?= build-bench
FUZZ_BUILD  ?= build-fuzz
# Seconds each libFuzzer harness runs in `make check` (docs/fuzzing.md).
FUZZ_SECONDS ?= 15
JOBS        ?= $(shell nproc)
# Debian's interpreter: it has python3-pytest (another python3 may be first on PATH).
PYTHON      ?= /usr/bin/python3
PREFIX      ?= /usr/local

.PHONY: all build check unit e2e fuzz bench install demo deps clean help format format-check

# The C sources clang-format keeps in the style of .clang-format.
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' '*.cpp' 2>/dev/null)

all: build

help:
	@echo "make            build into $(BUILD)/"
	@echo "make check      sanitizer build (ASan+UBSan), every test, and the fuzzers"
	@echo "make fuzz       the libFuzzer harnesses, FUZZ_SECONDS each (clang)"
	@echo "make bench      release build and the benchmark figures"
	@echo "make demo       simulated devices, workloads and the monitor"
	@echo "make install    install under PREFIX=$(PREFIX)"
	@echo "make deps       install missing Debian packages"
	@echo "make format     apply .clang-format to the C sources (make check verifies it)"

deps:
	sh scripts/deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

$(CHECK_BUILD)/CMakeCache.txt:
	cmake -S . -B $(CHECK_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTTALLOC_SANITIZE=ON >/dev/null

check: $(CHECK_BUILD)/CMakeCache.txt
	$(MAKE) --no-print-directory format-check
	cmake --build $(CHECK_BUILD) -j$(JOBS)
	$(MAKE) --no-print-directory unit fuzz e2e

format:
	clang-format -i $(FORMAT_FILES)

# Every C source as .clang-format wants it; the first difference fails.
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

unit:
	cd $(CHECK_BUILD) && ctest --output-on-failure --timeout 300 -j$(JOBS)

e2e:
	TTALLOC_BUILD=$(abspath $(CHECK_BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider \
		--timeout 300 tests/e2e

# The fuzzers need clang; their build is separate from the gcc one.
fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTTALLOC_FUZZ=ON \
		-DTTALLOC_TESTS=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))
	sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench:
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BENCH_BUILD) -j$(JOBS) --target tt-alloc-bench tt-smi-bench tt-smi \
		tt-alloc-server tt-alloc-monitor tt-alloc-sim ttalloc-testclient tt-alloc-soak \
		ttrec-bench tt-alloc-report tt-alloc-record record-bench
	sh bench/run.sh $(BENCH_BUILD)

install: build
	cmake --install $(BUILD)

demo: deps build
	sh scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
