# sq — build, test and demo.  `make` builds every tool into bin/; `make test`
# runs the suite; `make demo` runs the pipeline on the bundled sample.
#
# Sources are discovered by folder: shared/src/*.c is the library every tool
# links; <tool>/*.c and <tool>/*/*.c build bin/sq-<tool>, where <tool>/main.c
# holds main() and the other files are also linked into that tool's tests
# (tests/<tool>/test_*.c).  A tool's own headers are included from its root
# (train/: "core/model.h", "cpu/layers.h", ...).
# SAN=1 builds everything with ASan/UBSan into build-san/.  CUDA=0 leaves the
# CUDA backend out even when nvcc exists.

SHELL := /bin/bash
.DEFAULT_GOAL := all
# Where this Makefile is, and where make was started: `make -C SQ report` and
# `make -f SQ/Makefile report` read RUNS and write OUT relative to the caller's
# directory ($PWD, which make -C does not change), never into the source tree.
SQ_SRC := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
CALLER_DIR := $(if $(and $(PWD),$(wildcard $(PWD)/.)),$(PWD),$(CURDIR))

VERSION := 0.1.0
SAN ?= 0
ifeq ($(SAN),1)
B := build-san
BIN := build-san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B := build
BIN := bin
SANFLAGS :=
endif

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
PKGS := jansson libutf8proc libzstd libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT ?= -O2
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wshadow -Wvla \
          -fopenmp -pthread -Ishared/include -I$(B)/gen $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += -fopenmp -pthread $(SANFLAGS)
LDLIBS := $(PKG_LIBS) -lm

# OpenBLAS (cblas_sgemm) for the CPU trainer.
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

# MPI for distributed training (mpicc tells the flags; the tools stay built with $(CC)).
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)
ifneq ($(MPI_LIBS),)
MPI_DEFS := -DSQ_HAVE_MPI=1
endif

# CUDA backend: compiled in when nvcc exists, unless CUDA=0.  cudart is linked
# statically (it loads libcuda at run time), so the tools start without a driver.
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ( [ -x $(CUDA_HOME)/bin/nvcc ] && echo $(CUDA_HOME)/bin/nvcc ))
ifeq ($(CUDA),0)
NVCC :=
endif
ifneq ($(NVCC),)
CUDA_ON := 1
CUDA_DEFS := -DSQ_HAVE_CUDA=1 -I$(CUDA_HOME)/include
# sm_80 code runs on every Ampere and Ada GPU (A100, A10, A40, L4, L40S), sm_90 on
# Hopper; the compute_90 PTX is compiled by the driver for newer ones.
NVCCFLAGS ?= -O3 -std=c++17 -lineinfo --expt-relaxed-constexpr -gencode arch=compute_80,code=sm_80 \
             -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NCCL_LIBS := $(shell [ -e $(CUDA_HOME)/lib64/libnccl.so ] || ldconfig -p | grep -q libnccl.so && echo -lnccl)
ifneq ($(NCCL_LIBS),)
CUDA_DEFS += -DSQ_HAVE_NCCL=1
endif
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas $(NCCL_LIBS) \
             -lcudart_static -ldl -lrt -lstdc++
endif

TOOLS := tokenize pack train evaluate inspect
tool_name = sq-$(if $(filter evaluate,$(1)),eval,$(1))
BINS := $(foreach t,$(TOOLS),$(BIN)/$(call tool_name,$(t)))

LIB_SRC := $(wildcard shared/src/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB := $(B)/libsq.a

# Per-tool extra flags and libraries.
train_CFLAGS := -Itrain $(BLAS_CFLAGS) $(MPI_CFLAGS) $(MPI_DEFS) $(CUDA_DEFS)
train_LIBS := $(BLAS_LIBS) $(MPI_LIBS) $(CUDA_LIBS)
TRAIN_CU := $(if $(CUDA_ON),$(wildcard train/cuda/*.cu))
# nvcc output does not depend on SAN: one copy in build/ serves both builds.
TRAIN_CU_OBJ := $(TRAIN_CU:%.cu=build/%.o)

tool_src = $(wildcard $(1)/*.c $(1)/*/*.c)
tool_obj = $(call tool_src,$(1)):%.c=$(B)/%.o
tool_libobj = $(filter-out $(B)/$(1)/main.o,$(patsubst %.c,$(B)/%.o,$(call tool_src,$(1))))

all: $(BINS)

$(B)/gen/sq_version.h: FORCE
	@mkdir -p $(@D)
	@c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	 d=$$(git diff --quiet HEAD 2>/dev/null || echo -dirty); \
	 printf '#define SQ_VERSION "%s"\n#define SQ_GIT_COMMIT "%s%s"\n' "$(VERSION)" "$$c" "$$d" > $@.tmp; \
	 cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
FORCE:

$(B)/shared/src/version.o: $(B)/gen/sq_version.h

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $($(firstword $(subst /, ,$*))_CFLAGS) -c $< -o $@

build/train/cuda/%.o: train/cuda/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -Ishared/include -Itrain -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

define TOOL_RULE
$(BIN)/$(call tool_name,$(1)): $(patsubst %.c,$(B)/%.o,$(call tool_src,$(1))) $(if $(filter train,$(1)),$(TRAIN_CU_OBJ)) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LIBS) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call TOOL_RULE,$(t))))

# Unit tests: tests/<area>/test_*.c, linked with cmocka, libsq and, when <area>
# is a tool, that tool's objects but its main.  tests/<area>/helper_*.c are
# programs the shell tests call (tests/run.sh does not run them), linked alike.
TEST_SRC := $(wildcard tests/*/test_*.c) $(wildcard tests/*/helper_*.c)
TEST_BIN := $(TEST_SRC:%.c=$(B)/%)
test_area = $(word 2,$(subst /, ,$(1)))
define TEST_RULE
$(B)/$(1:.c=): $(B)/$(1:.c=.o) $(if $(filter $(TOOLS),$(call test_area,$(1))),$(call tool_libobj,$(call test_area,$(1))) $(if $(filter train,$(call test_area,$(1))),$(TRAIN_CU_OBJ))) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ -lcmocka $$($(call test_area,$(1))_LIBS) $$(LDLIBS)
endef
$(foreach t,$(TEST_SRC),$(eval $(call TEST_RULE,$(t))))
$(B)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests $($(word 1,$(subst /, ,$*))_CFLAGS) -I$(word 1,$(subst /, ,$*)) -c $< -o $@

# The CUDA kernel harness (tests/cuda/*.cu, see docs/cuda.md): linked with
# the train objects, whose CPU layers are its references; built with the
# tests so that CI compiles it.
KERNEL_CU := $(if $(CUDA_ON),$(if $(filter 1,$(SAN)),,$(wildcard tests/cuda/*.cu)))
KERNEL_BIN := $(KERNEL_CU:tests/cuda/%.cu=$(B)/tests/cuda/%)
$(B)/tests/cuda/%.o: tests/cuda/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -Ishared/include -Itrain -MMD -MP -c $< -o $@
$(B)/tests/cuda/%: $(B)/tests/cuda/%.o $(call tool_libobj,train) $(TRAIN_CU_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(train_LIBS) $(LDLIBS)
kernel-harness: $(KERNEL_BIN)
.PRECIOUS: $(B)/tests/cuda/%.o

tests: $(TEST_BIN) $(KERNEL_BIN)

# Fuzz targets: tests/fuzz/fuzz_*.c, built with clang's libFuzzer against the
# library sources (and the tool sources they name in FUZZ_<name>_SRC).
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Ishared/include -Itrain -Ibuild-fuzz/gen $(PKG_CFLAGS)
build-fuzz/gen/sq_version.h: $(B)/gen/sq_version.h
	@mkdir -p $(@D); cp $< $@
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC) build-fuzz/gen/sq_version.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(shell sed -n 's/^.*FUZZ_SOURCES: *//p' $<) $(PKG_LIBS) -lm
fuzz: $(FUZZ_BIN)

test: deps
	$(MAKE) all tests
	tests/run.sh

# Only the host tests: no deps check (CI calls it after `make test`).
test-san:
	$(MAKE) SAN=1 all tests
	SQ_BIN=build-san/bin SQ_BUILD=build-san tests/run.sh

test-gpu: all kernel-harness
	tests/cuda/run-gpu.sh

# Every GPU check in one go, from binaries built here (docs/cuda.md, "make
# gpu-check"): on the GPU machine `make gpu-check OUT=DIR` (PART=f1: the F1
# parity alone; ONLY=a,b: some steps); on the build machine `make gpu-check
# DRY=1` lists the steps and prepares and measures what must travel.  No
# prerequisites: the GPU machine has no compiler and must not rebuild.
gpu-check:
	OUT='$(OUT)' PART='$(PART)' DRY='$(DRY)' ONLY='$(ONLY)' bash tests/cuda/check.sh

deps:
	@scripts/install-deps.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh

# make report RUNS="RUNDIR..." [OUT=DIR]: OUT defaults to ./report in the caller's directory.
OUT ?= report
report:
	cd "$(CALLER_DIR)" && "$(SQ_SRC)/scripts/report.sh" -o "$(OUT)" $(RUNS)

# A pretrained model as an HF folder, and SQuAD, fetched and checked by sha256:
# `make model NAME=bert-base-uncased [DIR=...]`, `make squad [VERSION=1.1|2.0|all] [DIR=...]`.
model:
	scripts/get-model.sh $(or $(NAME),minilm) $(DIR)

squad:
	scripts/get-squad.sh $(or $(VERSION),1.1) $(DIR)

clean:
	rm -rf build build-san build-fuzz bin

.PHONY: all tests test test-san test-gpu gpu-check deps demo report model squad clean fuzz kernel-harness FORCE

-include $(shell find build build-san -name '*.d' 2>/dev/null)
