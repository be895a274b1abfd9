/* --device: the CPU reference, or the CUDA backend when train/cuda/ links
 * one in (sq_backend_cuda_new is a weak symbol, NULL otherwise). */
#include "backend.h"
#include "cuda/cuda_backend.h"

#include "sq/error.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

void sq_train_set_threads(int n) {
    /* OpenMP owns the threads; OpenBLAS runs single-threaded inside them
     * (layers.h sgemm_rows). */
    openblas_set_num_threads(1);
    if (n > 0) omp_set_num_threads(n);
}

const char *sq_default_device(void) {
    return sq_cuda_device_count && sq_cuda_device_count() > 0 ? "cuda" : "cpu";
}

int sq_backend_open(const char *device, sq_model *m, int max_B, int max_T, sq_backend **out) {
    if (!strcmp(device, "cpu")) return sq_backend_cpu_new(m, max_B, max_T, out);
    if (!strcmp(device, "cuda")) {
        if (!sq_backend_cuda_new) return sq_err("--device cuda: this sq-train was built without the CUDA backend");
        return sq_backend_cuda_new(m, max_B, max_T, out);
    }
    return sq_err("--device: \"%s\" is not cpu or cuda", device);
}
