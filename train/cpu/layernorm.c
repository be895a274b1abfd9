/* nn.LayerNorm over the last dimension: biased variance, eps inside the
 * square root (HF BertLayerNorm).  Row statistics in double. */
#include "cpu/layers.h"

#include <math.h>

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int N, int C, float eps) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += x[c];
        double mu = s / C, v = 0;
        for (int c = 0; c < C; c++) v += (x[c] - mu) * (x[c] - mu);
        double r = 1.0 / sqrt(v / C + eps);
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (float)((x[c] - mu) * r) * w[c] + b[c];
        mean[n] = (float)mu;
        rstd[n] = (float)r;
    }
}

void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        double gw = 0, gb = 0;
        for (int n = 0; n < N; n++) {
            double g = dout[(size_t)n * C + c];
            gw += g * (in[(size_t)n * C + c] - mean[n]) * rstd[n];
            gb += g;
        }
        dw[c] += (float)gw;
        if (db) db[c] += (float)gb;
    }
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C, *g = dout + (size_t)n * C;
        double mg = 0, mgx = 0;
        for (int c = 0; c < C; c++) {
            double xh = (x[c] - mean[n]) * rstd[n];
            mg += g[c] * w[c];
            mgx += g[c] * w[c] * xh;
        }
        mg /= C;
        mgx /= C;
        float *d = din + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            double xh = (x[c] - mean[n]) * rstd[n];
            d[c] = (float)((g[c] * w[c] - mg - xh * mgx) * rstd[n]);
        }
    }
}
