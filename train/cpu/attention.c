/* BertSelfAttention (eager): softmax(q k^T / sqrt(d) + mask) dropped out,
 * times v, per head.  Masked keys get probability exactly 0, so the key
 * dimension of every product stops at the row's length.  (batch, head)
 * pairs run on the OpenMP threads, each with single-threaded OpenBLAS. */
#include "cpu/layers.h"

#include "sq/philox.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

static uint32_t elem(const sq_dropout *d, int h, int i, int j) {
    return ((uint32_t)h * (uint32_t)d->max_pos + (uint32_t)i) * (uint32_t)d->max_pos + (uint32_t)j;
}

void attention_forward(float *ctx, float *probs, float *probs_drop, const float *q, const float *k,
                       const float *v, const int32_t *len, const sq_dropout *d, int B, int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs), keep_scale = d->p > 0 ? 1.0f / (1.0f - d->p) : 1.0f;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int n = len[b];
            size_t off = (size_t)b * T * C + (size_t)h * hs;
            float *P = probs + ((size_t)b * NH + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n, hs, scale, q + off, C, k + off, C, 0.0f, P, T);
            float *PD = d->p > 0 ? probs_drop + ((size_t)b * NH + h) * T * T : P;
            for (int i = 0; i < T; i++) {
                float *row = P + (size_t)i * T, mx = -INFINITY;
                for (int j = 0; j < n; j++) mx = row[j] > mx ? row[j] : mx;
                double s = 0;
                for (int j = 0; j < n; j++) s += row[j] = expf(row[j] - mx);
                float inv = (float)(1.0 / s);
                for (int j = 0; j < n; j++) row[j] *= inv;
                for (int j = n; j < T; j++) row[j] = 0.0f;
                if (d->p > 0) {
                    float *drow = PD + (size_t)i * T;
                    sq_philox_ctr r = {{0, 0, 0, 0}};
                    for (int j = 0; j < n; j++) {
                        uint32_t e = elem(d, h, i, j);
                        if (j == 0 || (e & 3) == 0)
                            r = sq_dropout_draw(d->seed, d->step, d->sample[b], d->layer, d->site, e);
                        drow[j] = sq_dropout_lane_keep(r, e, d->p) ? row[j] * keep_scale : 0.0f;
                    }
                    for (int j = n; j < T; j++) drow[j] = 0.0f;
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, n, 1.0f, PD, T, v + off, C, 0.0f,
                        ctx + off, C);
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dctx, const float *q,
                        const float *k, const float *v, const float *probs, const float *probs_drop,
                        const int32_t *len, const sq_dropout *d, int B, int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs), keep_scale = d->p > 0 ? 1.0f / (1.0f - d->p) : 1.0f;
    size_t all = (size_t)B * T * C * sizeof(float);
    memset(dk, 0, all); /* rows of masked keys get no gradient */
    memset(dv, 0, all);
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int n = len[b];
            size_t off = (size_t)b * T * C + (size_t)h * hs;
            const float *P = probs + ((size_t)b * NH + h) * T * T;
            const float *PD = d->p > 0 ? probs_drop + ((size_t)b * NH + h) * T * T : P;
            float *S = scratch + (size_t)omp_get_thread_num() * T * T;
            /* dPD = dctx v^T, dv = PD^T dctx */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n, hs, 1.0f, dctx + off, C, v + off, C, 0.0f, S, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hs, T, 1.0f, PD, T, dctx + off, C, 0.0f,
                        dv + off, C);
            /* through dropout, then softmax: dS = P * (dP - sum(P * dP)) */
            for (int i = 0; i < T; i++) {
                float *srow = S + (size_t)i * T;
                const float *prow = P + (size_t)i * T;
                if (d->p > 0) {
                    sq_philox_ctr r = {{0, 0, 0, 0}};
                    for (int j = 0; j < n; j++) {
                        uint32_t e = elem(d, h, i, j);
                        if (j == 0 || (e & 3) == 0)
                            r = sq_dropout_draw(d->seed, d->step, d->sample[b], d->layer, d->site, e);
                        srow[j] = sq_dropout_lane_keep(r, e, d->p) ? srow[j] * keep_scale : 0.0f;
                    }
                }
                double dot = 0;
                for (int j = 0; j < n; j++) dot += (double)prow[j] * srow[j];
                for (int j = 0; j < n; j++) srow[j] = prow[j] * (srow[j] - (float)dot);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, n, scale, S, T, k + off, C, 0.0f,
                        dq + off, C);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hs, T, scale, S, T, q + off, C, 0.0f, dk + off, C);
        }
    }
}
