/* BertForQuestionAnswering's head: qa_outputs gives [N, 2], split into
 * start and end logits; loss = (CE(start) + CE(end)) / 2 with positions
 * clamped to [0, T] and T ignored (CrossEntropyLoss(ignore_index=T)). */
#include "cpu/layers.h"

#include <math.h>

void qa_split_logits(float *start, float *end, const float *logits2, const int32_t *len, int hf_padded,
                     int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)b * T + t;
            int masked = !hf_padded && t >= len[b];
            start[n] = masked ? -INFINITY : logits2[2 * n];
            end[n] = masked ? -INFINITY : logits2[2 * n + 1];
        }
}

/* One row's CE and its gradient (scaled by w) into dl[t * 2] (stride 2). */
static double ce_row(float *dl, const float *logit, int pos, int n, int T, double w) {
    for (int t = 0; t < T; t++) dl[2 * t] = 0.0f;
    float mx = -INFINITY;
    for (int t = 0; t < n; t++) mx = logit[t] > mx ? logit[t] : mx;
    double s = 0;
    for (int t = 0; t < n; t++) s += exp((double)logit[t] - mx);
    double lse = mx + log(s);
    for (int t = 0; t < n; t++) dl[2 * t] = (float)(w * exp((double)logit[t] - lse));
    dl[2 * pos] -= (float)w;
    return w * (lse - logit[pos]);
}

double qa_loss_forward_backward(float *dlogits2, const float *start, const float *end, const int32_t *spos,
                                const int32_t *epos, const int32_t *len, int hf_padded, int n_start, int n_end,
                                int B, int T) {
    double loss = 0;
    for (int b = 0; b < B; b++) {
        int n = hf_padded ? T : len[b];
        const int32_t pos[2] = {spos[b], epos[b]};
        const int cnt[2] = {n_start, n_end};
        const float *lg[2] = {start + (size_t)b * T, end + (size_t)b * T};
        for (int s = 0; s < 2; s++) {
            float *dl = dlogits2 + (size_t)b * T * 2 + s;
            int p = pos[s] < 0 ? 0 : pos[s] > T ? T : pos[s];
            if (p >= n || cnt[s] <= 0) {
                for (int t = 0; t < T; t++) dl[2 * t] = 0.0f;
                continue;
            }
            loss += ce_row(dl, lg[s], p, n, T, 0.5 / cnt[s]);
        }
    }
    return loss;
}
