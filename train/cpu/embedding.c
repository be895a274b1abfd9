/* BertEmbeddings before its LayerNorm: word + position + token type, with
 * position ids 0..T-1 (HF's default position_ids buffer). */
#include "cpu/layers.h"

void embedding_forward(float *out, const int32_t *ids, const int32_t *types, const float *wte,
                       const float *wpe, const float *wtt, int B, int T, int C) {
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        const float *w = wte + (size_t)ids[n] * C, *p = wpe + (size_t)(n % T) * C, *y = wtt + (size_t)types[n] * C;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = w[c] + p[c] + y[c];
    }
}

void embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout, const int32_t *ids,
                        const int32_t *types, int pad_id, int B, int T, int C) {
    /* Parallel over channels, tokens in order: deterministic sums. */
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        for (int n = 0; n < B * T; n++) {
            float g = dout[(size_t)n * C + c];
            if (ids[n] != pad_id) dwte[(size_t)ids[n] * C + c] += g;
            dwpe[(size_t)(n % T) * C + c] += g;
            dwtt[(size_t)types[n] * C + c] += g;
        }
    }
}
