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
        long id = -1;
        for (; e > s; e--) {
            id = vocab_find(v, s > 0, bytes + start[s], start[e] - start[s]);
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
