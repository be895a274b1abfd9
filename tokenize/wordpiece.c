#include "wordpiece.h"

size_t wordpiece(const vocab *v, const char *bytes, const uint32_t *start, size_t n, uint32_t *ids,
                 uint32_t *ends) {
    /* HF counts chars of the normalized word, not bytes. */
    if (n > WORDPIECE_MAX_CHARS) goto unknown;
    size_t k = 0;
    for (size_t s = 0; s < n;) {
        /* No vocabulary entry is longer than max_piece bytes: start the
         * search there instead of at the end of the word. */
        size_t e = n;
        while (e > s + 1 && start[e] - start[s] > v->max_piece) e--;
        /* The hash of every prefix in one pass: hash[b] covers b bytes. */
        uint32_t hash[4 * WORDPIECE_MAX_CHARS + 1];
        const char *p = bytes + start[s];
        size_t nb = start[e] - start[s];
        hash[0] = vocab_hash_seed(s > 0);
        for (size_t b = 0; b < nb; b++) hash[b + 1] = vocab_hash_step(hash[b], (unsigned char)p[b]);
        long id = -1;
        for (; e > s; e--) {
            size_t len = start[e] - start[s];
            id = vocab_find_hashed(v, hash[len], s > 0, p, len);
            if (id >= 0) break;
        }
        if (id < 0) goto unknown;
        ids[k] = (uint32_t)id;
        ends[k++] = (uint32_t)e;
        s = e;
    }
    return k;
unknown:
    ids[0] = v->unk_id;
    ends[0] = (uint32_t)n;
    return 1;
}
