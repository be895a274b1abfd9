#include "vocab.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/hash.h"

#include <stdlib.h>
#include <string.h>

/* bert vocabularies are ~30k lines; refuse files beyond any real vocabulary. */
#define VOCAB_MAX_BYTES ((size_t)1 << 28)

/* FNV-1a over the bytes, seeded with the "##" prefix for continuations so
 * that a lookup never has to build the prefixed string. */
#define FNV_SEED 2166136261u
static uint32_t fnv(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = vocab_hash_step(h, (unsigned char)s[i]);
    return h;
}

uint32_t vocab_hash_seed(bool cont) { return cont ? fnv(FNV_SEED, "##", 2) : FNV_SEED; }

long vocab_find(const vocab *v, bool cont, const char *s, size_t len) {
    return vocab_find_hashed(v, fnv(vocab_hash_seed(cont), s, len), cont, s, len);
}

long vocab_find_hashed(const vocab *v, uint32_t h, bool cont, const char *s, size_t len) {
    size_t klen = len + (cont ? 2 : 0);
    for (size_t i = h & v->mask;; i = (i + 1) & v->mask) {
        const vocab_slot *e = &v->slots[i];
        if (!e->len) return -1;
        if (e->hash != h || e->len != klen) continue;
        const char *k = v->text + e->off;
        if (cont ? (k[0] == '#' && k[1] == '#' && memcmp(k + 2, s, len) == 0) : memcmp(k, s, len) == 0)
            return e->id;
    }
}

/* Python's dict comprehension in the reference keeps the last line of a
 * repeated token: insert, and overwrite the id of an existing key. */
static void insert(vocab *v, uint32_t off, uint32_t len, uint32_t id) {
    const char *k = v->text + off;
    uint32_t h = fnv(FNV_SEED, k, len);
    for (size_t i = h & v->mask;; i = (i + 1) & v->mask) {
        vocab_slot *e = &v->slots[i];
        if (!e->len) {
            *e = (vocab_slot){off, len, id, h};
            return;
        }
        if (e->hash == h && e->len == len && memcmp(v->text + e->off, k, len) == 0) {
            e->id = id;
            return;
        }
    }
}

static int special(const vocab *v, const char *name, const char *tok, uint32_t *id) {
    long i = vocab_find(v, false, tok, strlen(tok));
    if (i < 0) return sq_err("%s: the vocabulary has no %s token", name, tok);
    *id = (uint32_t)i;
    return 0;
}

static int build(const char *name, vocab *v) {
    if (sq_sha256(v->text, v->text_len, v->sha256)) return -1;
    /* Lines split on "\n" exactly (a trailing newline ends the last line, it
     * does not start an empty one), as the reference's read().split("\n"). */
    size_t n = 0;
    for (size_t i = 0; i < v->text_len; i++) n += v->text[i] == '\n';
    if (v->text_len && v->text[v->text_len - 1] != '\n') n++;
    if (n == 0) return sq_err("%s: empty vocabulary", name);
    if (n > UINT32_MAX / 4) return sq_err("%s: too many lines", name);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    v->slots = sq_calloc(cap, sizeof *v->slots);
    if (!v->slots) return -1;
    v->mask = cap - 1;
    v->size = (uint32_t)n;
    size_t start = 0;
    for (uint32_t id = 0; id < n; id++) {
        size_t end = start;
        while (end < v->text_len && v->text[end] != '\n') end++;
        size_t len = end - start;
        if (len == 0) return sq_err("%s: line %u is empty", name, id + 1);
        if (len > 1024) return sq_err("%s: line %u is longer than 1024 bytes", name, id + 1);
        if (memchr(v->text + start, 0, len)) return sq_err("%s: line %u contains a NUL byte", name, id + 1);
        insert(v, (uint32_t)start, (uint32_t)len, id);
        size_t piece = len >= 2 && v->text[start] == '#' && v->text[start + 1] == '#' ? len - 2 : len;
        if (piece > v->max_piece) v->max_piece = (uint32_t)piece;
        start = end + 1;
    }
    if (special(v, name, "[CLS]", &v->cls_id) || special(v, name, "[SEP]", &v->sep_id) ||
        special(v, name, "[PAD]", &v->pad_id) || special(v, name, "[UNK]", &v->unk_id))
        return -1;
    long m = vocab_find(v, false, "[MASK]", 6);
    v->has_mask = m >= 0;
    v->mask_id = m >= 0 ? (uint32_t)m : 0;
    return 0;
}

int vocab_loadb(const char *name, const char *buf, size_t len, vocab *v) {
    memset(v, 0, sizeof *v);
    if (len > VOCAB_MAX_BYTES) return sq_err("%s: larger than %zu bytes", name, VOCAB_MAX_BYTES);
    v->text = sq_malloc(len + 1);
    if (!v->text) return -1;
    memcpy(v->text, buf, len);
    v->text_len = len;
    if (build(name, v)) {
        vocab_free(v);
        return -1;
    }
    return 0;
}

int vocab_load(const char *path, vocab *v) {
    memset(v, 0, sizeof *v);
    if (sq_read_file(path, VOCAB_MAX_BYTES, &v->text, &v->text_len)) return -1;
    if (build(path, v)) {
        vocab_free(v);
        return -1;
    }
    return 0;
}

void vocab_free(vocab *v) {
    free(v->text);
    free(v->slots);
    memset(v, 0, sizeof *v);
}
