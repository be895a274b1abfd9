/* nn.Linear through OpenBLAS: weights are [out, in], row-major, as HF stores them. */
#include "layers.h"

#include <cblas.h>

void matmul_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int OC) {
    if (b) {
#pragma omp parallel for
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] = b[o];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, in, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                     int N, int C, int OC) {
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, 1.0f, din, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, in, C, 1.0f, dw, C);
    if (db) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            db[o] += (float)s;
        }
    }
}
