/* The windows and labels of HuggingFace run_qa for one (question, context)
 * pair: how the tokenizers library cuts an over-long context into
 * overlapping windows (truncation "only_second" with a stride), and where the
 * first answer's start and end tokens fall in each window.  Pure functions
 * of token counts and offsets: no allocation, no I/O. */
#ifndef PACK_WINDOW_H
#define PACK_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/* Tokens a feature spends on [CLS], [SEP] and the closing [SEP]. */
#define PACK_SPECIAL_TOKENS 3u

typedef struct {
    uint32_t max_seq, stride, max_query;
} pack_options;

/* The defaults of --max-query and --doc-stride follow --max-seq, so that
 * --max-seq alone always works: max_query = min(64, max_seq / 2) (64 is
 * BERT's run_squad max_query_length), stride = 128 (HF run_qa's doc_stride)
 * when it is below the context room max_seq - max_query - 3, else half that
 * room.  At the default max_seq 384 these are run_qa's 64 and 128.  Only
 * the options not given (query_set, stride_set false) are filled. */
void pack_options_defaults(pack_options *o, bool query_set, bool stride_set);

/* NULL when the options can hold every question (cut to max_query tokens)
 * with at least one context token and a stride below the room left for the
 * context; otherwise a static message saying which rule is broken. */
const char *pack_options_check(const pack_options *o);

/* Context tokens one window holds next to a question of q_len tokens. */
static inline uint32_t pack_room(const pack_options *o, uint32_t q_len) {
    return o->max_seq - PACK_SPECIAL_TOKENS - q_len;
}

/* run_qa keeps whole questions (tokenizers fails when one leaves no room);
 * sq cuts a question to max_query tokens instead, as BERT's run_squad did. */
static inline uint32_t pack_question_len(const pack_options *o, uint32_t n_ids) {
    return n_ids < o->max_query ? n_ids : o->max_query;
}

/* Number of windows a context of n_ctx tokens is cut into (1 when it fits,
 * including an empty context). */
uint32_t pack_n_windows(uint32_t n_ctx, uint32_t room, uint32_t stride);

/* Context tokens [*start, *stop) of window w < pack_n_windows(...). */
void pack_window(uint32_t n_ctx, uint32_t room, uint32_t stride, uint32_t w,
                 uint32_t *start, uint32_t *stop);

/* The answer as run_qa sees it: code points [start, end) of the context. */
typedef struct {
    bool has;            /* false: no answer, or is_impossible (v2.0) */
    uint32_t start, end;
} pack_answer;

/* Code points in the NUL-terminated UTF-8 string s. */
uint32_t pack_utf8_cps(const char *s);

/* Labels of one feature whose context tokens (offsets: 2 * n_ctx code-point
 * pairs) start at feature position first and are followed by the closing
 * [SEP], the last token.  0/0 when the answer is not wholly inside. */
void pack_labels(const pack_answer *a, const uint32_t *offsets, uint32_t n_ctx, uint32_t first,
                 uint32_t *start_position, uint32_t *end_position);

/* One feature: [CLS] question [SEP] context[ctx_start, ctx_stop) [SEP]. */
typedef struct {
    uint32_t ctx_start, ctx_stop;
    uint32_t len, type1_start;
    uint32_t start_position, end_position;
} pack_layout;

/* Layout of window w of a question of q_len tokens (already cut to
 * max_query) on a context of n_ctx tokens with those offsets. */
void pack_feature_layout(const pack_options *o, uint32_t q_len, const uint32_t *ctx_offsets,
                         uint32_t n_ctx, const pack_answer *a, uint32_t w, pack_layout *out);

#endif
