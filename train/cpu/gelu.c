/* HF "gelu" is the exact form, x * Phi(x) with erf, not the tanh
 * approximation. */
#include "cpu/layers.h"

#include <math.h>

void gelu_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * (float)M_SQRT1_2));
}

void gelu_backward(float *din, const float *in, const float *dout, size_t n) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        din[i] = dout[i] * (cdf + x * inv_sqrt_2pi * expf(-0.5f * x * x));
    }
}
