/* nn.Linear through OpenBLAS: weights are [out, in], row-major, as HF stores
 * them.  The rows of every product are split over the OpenMP threads, each
 * block computed by single-threaded OpenBLAS: one thread pool instead of
 * OpenMP's and OpenBLAS's spinning against each other (on a busy 2-core
 * machine that was 15x slower). */
#include "cpu/layers.h"

#include <cblas.h>
#include <omp.h>

void sgemm_single_threaded(void) { openblas_set_num_threads(1); }

void sgemm_rows(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int m0 = (int)((long)M * id / nt), m1 = (int)((long)M * (id + 1) / nt);
        if (m1 > m0)
            cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                        m1 - m0, N, K, alpha, trans_a ? A + m0 : A + (size_t)m0 * lda, lda, B, ldb, beta,
                        C + (size_t)m0 * ldc, ldc);
    }
}

void matmul_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int OC) {
    if (b) {
#pragma omp parallel for
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] = b[o];
    }
    sgemm_rows(0, 1, N, OC, C, 1.0f, in, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                     int N, int C, int OC) {
    if (din) sgemm_rows(0, 0, N, C, OC, 1.0f, dout, OC, w, C, 1.0f, din, C);
    sgemm_rows(1, 0, OC, C, N, 1.0f, dout, OC, in, C, 1.0f, dw, C);
    if (db) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            db[o] += (float)s;
        }
    }
}
