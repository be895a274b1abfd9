#include "window.h"

#include <stddef.h>

const char *pack_options_check(const pack_options *o) {
    /* tokenizers refuses (SequenceTooShort) a pair whose first sequence
     * leaves no room for the second; with questions cut to max_query tokens
     * the longest question decides. */
    if (o->max_seq < PACK_SPECIAL_TOKENS + o->max_query + 1)
        return "--max-seq must exceed --max-query + 3 ([CLS] question [SEP] context [SEP] needs one context token)";
    /* Encoding::truncate asserts stride < max_len, the room left for the
     * context: a window must move forward. */
    if (o->stride >= pack_room(o, o->max_query))
        return "--doc-stride must be below --max-seq - --max-query - 3 (the context room of the longest question)";
    return NULL;
}

void pack_options_defaults(pack_options *o, bool query_set, bool stride_set) {
    if (!query_set) o->max_query = o->max_seq / 2 < 64 ? o->max_seq / 2 : 64;
    if (stride_set) return;
    /* A max_seq too small for its question is pack_options_check's to refuse. */
    uint32_t room = o->max_seq > o->max_query + PACK_SPECIAL_TOKENS ? pack_room(o, o->max_query) : 0;
    o->stride = 128 < room ? 128 : room / 2;
}

/* tokenizers Encoding::truncate (direction Right): windows start at 0,
 * room - stride, 2 (room - stride), ..., each overlapping the one before by
 * stride tokens, and the first one that reaches the end of the context is
 * the last.  So the last window may be short, and no window follows one that
 * already ends at the context's end (stepping on while the start is inside
 * the context would add windows wholly inside the last). */
uint32_t pack_n_windows(uint32_t n_ctx, uint32_t room, uint32_t stride) {
    if (n_ctx <= room) return 1;
    uint32_t step = room - stride;
    return 1 + (n_ctx - room + step - 1) / step;
}

void pack_window(uint32_t n_ctx, uint32_t room, uint32_t stride, uint32_t w,
                 uint32_t *start, uint32_t *stop) {
    uint32_t step = n_ctx <= room ? 0 : room - stride;
    uint64_t s = (uint64_t)w * step, e = s + room;
    *start = (uint32_t)s;
    *stop = e < n_ctx ? (uint32_t)e : n_ctx;
}

uint32_t pack_utf8_cps(const char *s) {
    uint32_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* HF run_qa prepare_train_features, on the unpadded encoding that
 * hf_reference.py labels:
 *   - the answer must lie within [first context token's start, last context
 *     token's end], else both labels are 0 ([CLS]);
 *   - start: walk right from the first context token while a token's start
 *     is <= the answer start, and take the token before.  The closing [SEP]
 *     has offsets (0, 0), so when every context token starts at or before
 *     the answer the walk runs past it to the end of the feature: the start
 *     label is then the [SEP] itself (with padding to max_seq, run_qa would
 *     give max_seq - 1; the unpadded reference gives len - 1);
 *   - end: walk left from the last context token while a token's end is
 *     >= the answer end, and take the token after.  The [SEP] before the
 *     context ends at 0, which stops the walk unless the answer ends at 0
 *     (an empty answer at the very start, where the reference fails with an
 *     IndexError); we stop there too. */
void pack_labels(const pack_answer *a, const uint32_t *offsets, uint32_t n_ctx, uint32_t first,
                 uint32_t *start_position, uint32_t *end_position) {
    *start_position = *end_position = 0;
    if (!a->has || n_ctx == 0) return;
    if (!(offsets[0] <= a->start && offsets[2 * (n_ctx - 1) + 1] >= a->end)) return;
    uint32_t i = 0;
    while (i < n_ctx && offsets[2 * i] <= a->start) i++;
    *start_position = i == n_ctx ? first + n_ctx : first + i - 1;
    uint32_t j = n_ctx;
    while (j > 0 && offsets[2 * (j - 1) + 1] >= a->end) j--;
    *end_position = first + j;
}

void pack_feature_layout(const pack_options *o, uint32_t q_len, const uint32_t *ctx_offsets,
                         uint32_t n_ctx, const pack_answer *a, uint32_t w, pack_layout *out) {
    uint32_t room = pack_room(o, q_len);
    pack_window(n_ctx, room, o->stride, w, &out->ctx_start, &out->ctx_stop);
    uint32_t n = out->ctx_stop - out->ctx_start;
    /* TemplateProcessing pair: [CLS]:0 A:0 [SEP]:0 B:1 [SEP]:1. */
    out->type1_start = q_len + 2;
    out->len = q_len + n + PACK_SPECIAL_TOKENS;
    pack_labels(a, ctx_offsets + 2 * (size_t)out->ctx_start, n, out->type1_start,
                &out->start_position, &out->end_position);
}
