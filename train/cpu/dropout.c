/* Dropout on hidden states [B, T, C] with masks from Philox (sq/philox.h):
 * element t * C + c of sample d->sample[b], so a mask does not depend on
 * padding, batch composition or backend.  Kept values are scaled by
 * 1 / (1 - p) (inverted dropout, as nn.Dropout).  One Philox draw serves
 * four consecutive elements. */
#include "cpu/layers.h"

#include "sq/philox.h"

void dropout_forward(float *out, const float *in, const float *res, const sq_dropout *d, int B, int T, int C) {
    float scale = d->p > 0 ? 1.0f / (1.0f - d->p) : 1.0f;
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        uint32_t smp = d->p > 0 ? d->sample[n / T] : 0, base = (uint32_t)(n % T) * (uint32_t)C;
        sq_philox_ctr r = {{0, 0, 0, 0}};
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)n * C + c;
            uint32_t e = base + (uint32_t)c;
            float x = in[i];
            if (d->p > 0) {
                if (c == 0 || (e & 3) == 0) r = sq_dropout_draw(d->seed, d->step, smp, d->layer, d->site, e);
                x = sq_dropout_lane_keep(r, e, d->p) ? x * scale : 0.0f;
            }
            out[i] = res ? x + res[i] : x;
        }
    }
}

void dropout_backward(float *din, const float *dout, const sq_dropout *d, int B, int T, int C) {
    float scale = d->p > 0 ? 1.0f / (1.0f - d->p) : 1.0f;
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        uint32_t smp = d->p > 0 ? d->sample[n / T] : 0, base = (uint32_t)(n % T) * (uint32_t)C;
        sq_philox_ctr r = {{0, 0, 0, 0}};
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)n * C + c;
            uint32_t e = base + (uint32_t)c;
            if (d->p > 0) {
                if (c == 0 || (e & 3) == 0) r = sq_dropout_draw(d->seed, d->step, smp, d->layer, d->site, e);
                din[i] = sq_dropout_lane_keep(r, e, d->p) ? dout[i] * scale : 0.0f;
            } else {
                din[i] = dout[i];
            }
        }
    }
}
