/* What the C side of sq-train may ask of the CUDA backend beyond the
 * sq_backend interface: its options (--precision, --padded), device facts
 * for `sq-train bench`, and a device sync for timing.  Every function is weak
 * here: NULL in a build without CUDA (CUDA=0 or no nvcc), so callers test
 * the pointer and the CPU-only build references no CUDA symbol. */
#ifndef SQ_TRAIN_CUDA_CUDA_BACKEND_H
#define SQ_TRAIN_CUDA_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/backend.h"

typedef struct {
    int bf16;   /* 1: bf16 matmul inputs (default); 0: fp32 throughout */
    int padded; /* 1: compute every padded position, as padded trainers do */
} sq_cuda_opts;

/* Options for the backends created after the call (defaults: bf16, unpadded). */
void sq_cuda_configure(const sq_cuda_opts *o) __attribute__((weak));

/* GPUs the driver reports (0 without a driver): picks the default --device. */
int sq_cuda_device_count(void) __attribute__((weak));

typedef struct {
    char name[256];
    int sm;                  /* 90 for sm_90 */
    double peak_bf16_tflops; /* dense bf16 tensor-core peak (0: unknown) */
    size_t bytes_allocated;  /* device memory this backend holds (its peak: it never grows) */
    size_t device_bytes_used, device_bytes_total; /* cudaMemGetInfo: all users of the device */
    size_t arena_bytes;      /* the activations and scratch (sq_cuda_plan_bytes) */
    long bgrad_fused, bgrad_summed; /* bias gradients by the GEMM epilogue / by column sums under SQ_BGRAD_EPILOGUE=1 */
    char switches[96];       /* candidate versions in effect, space-separated: bgrad_epilogue, mem_plan=1,
                                device_norm, lt_token_buckets (docs/cuda.md, "Switches"); "" for the defaults */
} sq_cuda_info;

/* Facts about the device of a backend created by sq_backend_cuda_new. */
int sq_cuda_get_info(sq_backend *be, sq_cuda_info *out) __attribute__((weak));
/* cuBLASLt heuristic queries the backend has made: each is a matmul shape
 * (bucket) met for the first time, which costs that step host time. */
long sq_cuda_heuristic_queries(sq_backend *be) __attribute__((weak));
/* The bytes of activations and scratch the backend allocates for
 * micro-batches up to max_B x max_T (its plan(), without a GPU): bf16 or
 * fp32, training (with a backward) or inference, and mem_plan rows of the
 * memory plan of docs/cuda.md applied (SQ_MEM_PLAN); the attention version
 * as SQ_ATTN_VERSION picks it.  0 when out of host memory. */
size_t sq_cuda_plan_bytes(const sq_bert_config *cfg, int max_B, int max_T, int bf16, int train, int mem_plan)
    __attribute__((weak));
/* Waits for all work the backend has queued. */
int sq_cuda_sync(sq_backend *be) __attribute__((weak));
/* Makes GPU local_rank % (device count) this process's device, before any
 * backend or communicator exists (a rank's GPU under mpirun/srun); without
 * a GPU it does nothing and the backend reports the missing device. */
int sq_cuda_bind_device(int local_rank) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif
