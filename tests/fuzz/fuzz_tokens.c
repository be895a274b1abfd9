/* libFuzzer target: the tokens file reader (sq_tokens_readb) on arbitrary
 * input, then a walk over everything it accepted, aborting where a promise
 * of sq/tokens.h that sq-pack and sq-eval rely on is broken.
 *
 * Random bytes rarely survive the container's CRCs and zstd, so the first
 * byte picks how the rest is read:
 *   even: a whole .sqt file (if bit 1 is set, its CRC32s are recomputed);
 *   odd:  the decompressed content, wrapped into a valid container
 *         (wrap.h); the header's vocabulary hash is taken from frame 0's
 *         first 32 bytes, as the writer does.  This reaches the payload
 *         parser.
 * Seeds (tests/fuzz/seeds/tokens/) hold both forms of small .sqt files. */
#include "sq/tokens.h"
#include "wrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void walk(const sq_tokens *t) {
    uint64_t q_seen = 0;
    for (uint32_t i = 0; i < t->n_paragraphs; i++) {
        const sq_paragraph *p = &t->paragraphs[i];
        volatile size_t s = strlen(p->title) + strlen(p->context);
        (void)s;
        for (uint32_t k = 0; k < p->n_tokens; k++)
            if (p->ids[k] >= t->vocab_size || p->offsets[2 * k] >= p->offsets[2 * k + 1] ||
                p->offsets[2 * k + 1] > p->context_cps)
                abort();
        if (p->first_question != q_seen || (uint64_t)p->first_question + p->n_questions > t->n_questions) abort();
        q_seen += p->n_questions;
    }
    if (q_seen != t->n_questions) abort();
    for (uint32_t i = 0; i < t->n_questions; i++) {
        const sq_question *q = &t->questions[i];
        if (q->paragraph >= t->n_paragraphs) abort();
        volatile size_t s = strlen(q->id) + strlen(q->text);
        (void)s;
        for (uint32_t k = 0; k < q->n_ids; k++)
            if (q->ids[k] >= t->vocab_size) abort();
        for (uint32_t k = 0; k < q->n_answers; k++) {
            volatile size_t a = strlen(q->answers[k].text) + q->answers[k].start;
            (void)a;
        }
    }
    if (t->version) {
        volatile size_t v = strlen(t->version);
        (void)v;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t len;
    uint8_t *buf = fuzz_input("SQTOKENS", SQ_TOKENS_VERSION, data, size, &len);
    if (!buf) return 0;
    sq_tokens *t;
    if (sq_tokens_readb("fuzz", buf, len, &t) == 0) {
        walk(t);
        sq_tokens_free(t);
    }
    free(buf);
    return 0;
}
