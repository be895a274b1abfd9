#include "encode.h"
#include "normalize.h"
#include "sq/error.h"
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>

enum { A_DROP = 3 }; /* beside NC_WORD, NC_SPACE, NC_PUNCT */

/* HF matches its special tokens (added with normalized: false) in the raw
 * text before normalizing the pieces between them, so "[SEP]" in a context
 * becomes the [SEP] id and "[sep]" does not. */
static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

void encoder_init(encoder *e, const vocab *v, bool cased) {
    memset(e, 0, sizeof *e);
    e->v = v;
    e->cased = cased;
    for (uint32_t c = 0; c < 128; c++) {
        norm_result r;
        normalize_cp(c, cased, &r);
        e->aclass[c] = r.n ? r.cls[0] : A_DROP;
        e->achar[c] = r.n ? (uint8_t)r.cp[0] : 0;
    }
}

void encoder_free(encoder *e) {
    free(e->ids);
    free(e->offsets);
    free(e->wbytes);
    free(e->wstart);
    free(e->worig);
    free(e->pids);
    free(e->pends);
    memset(e, 0, sizeof *e);
}

static int grow_out(encoder *e, size_t more) {
    if (e->n + more <= e->cap) return 0;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < e->n + more) cap *= 2;
    uint32_t *ids = sq_realloc(e->ids, cap * sizeof *ids);
    if (!ids) return -1;
    e->ids = ids;
    uint32_t *off = sq_realloc(e->offsets, 2 * cap * sizeof *off);
    if (!off) return -1;
    e->offsets = off;
    e->cap = cap;
    return 0;
}

/* Room for one more char of up to 4 bytes in the word. */
static int grow_word(encoder *e) {
    if (e->wn + 2 > e->wcap) {
        size_t cap = e->wcap ? 2 * e->wcap : 64;
        uint32_t *a = sq_realloc(e->wstart, cap * sizeof *a);
        if (!a) return -1;
        e->wstart = a;
        if (!(a = sq_realloc(e->worig, cap * sizeof *a))) return -1;
        e->worig = a;
        if (!(a = sq_realloc(e->pids, cap * sizeof *a))) return -1;
        e->pids = a;
        if (!(a = sq_realloc(e->pends, cap * sizeof *a))) return -1;
        e->pends = a;
        e->wcap = cap;
    }
    if (e->wlen + 4 > e->bcap) {
        size_t cap = e->bcap ? 2 * e->bcap : 256;
        char *b = sq_realloc(e->wbytes, cap);
        if (!b) return -1;
        e->wbytes = b;
        e->bcap = cap;
    }
    return 0;
}

static int emit(encoder *e, uint32_t id, uint32_t start, uint32_t end) {
    if (grow_out(e, 1)) return -1;
    e->ids[e->n] = id;
    e->offsets[2 * e->n] = start;
    e->offsets[2 * e->n + 1] = end;
    e->n++;
    return 0;
}

/* WordPiece on the collected word; offsets map each piece's first and last
 * char back to the code point it came from (HF's alignments). */
static int flush(encoder *e) {
    if (!e->wn) return 0;
    e->wstart[e->wn] = (uint32_t)e->wlen;
    size_t k = wordpiece(e->v, e->wbytes, e->wstart, e->wn, e->pids, e->pends);
    if (grow_out(e, k)) return -1;
    uint32_t s = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t end = e->pends[i];
        e->ids[e->n] = e->pids[i];
        e->offsets[2 * e->n] = e->worig[s];
        e->offsets[2 * e->n + 1] = e->worig[end - 1] + 1;
        e->n++;
        s = end;
    }
    e->wn = e->wlen = 0;
    return 0;
}

static int put_char(encoder *e, uint32_t c, uint32_t orig) {
    if (grow_word(e)) return -1;
    e->wstart[e->wn] = (uint32_t)e->wlen;
    e->worig[e->wn++] = orig;
    char *b = e->wbytes + e->wlen;
    if (c < 0x80) {
        b[0] = (char)c;
        e->wlen += 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | c >> 6);
        b[1] = (char)(0x80 | (c & 0x3F));
        e->wlen += 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | c >> 12);
        b[1] = (char)(0x80 | (c >> 6 & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        e->wlen += 3;
    } else {
        b[0] = (char)(0xF0 | c >> 18);
        b[1] = (char)(0x80 | (c >> 12 & 0x3F));
        b[2] = (char)(0x80 | (c >> 6 & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        e->wlen += 4;
    }
    return 0;
}

/* One normalized char of class cls that came from original code point orig. */
static int put(encoder *e, uint32_t c, int cls, uint32_t orig) {
    if (cls == NC_WORD) return put_char(e, c, orig);
    if (flush(e)) return -1;
    if (cls == NC_SPACE) return 0;
    return put_char(e, c, orig) || flush(e) ? -1 : 0;
}

/* Decodes one UTF-8 sequence at s (n > 0 bytes left); *len gets its length.
 * Malformed input yields U+FFFD for one byte (dropped by clean_text). */
static uint32_t decode(const unsigned char *s, size_t n, size_t *len) {
    uint32_t c = s[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    *len = 1;
    if (k == 1 || c > 0xF4 || k > n) return 0xFFFD;
    uint32_t v = c & (0x3F >> (k - 1));
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return 0xFFFD;
    *len = k;
    return v;
}

static int special_at(const encoder *e, const char *s, size_t left, uint32_t *id) {
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        size_t l = strlen(specials[i]);
        if (l <= left && memcmp(s, specials[i], l) == 0) {
            long v = vocab_find(e->v, false, specials[i], l);
            if (v < 0) continue;
            *id = (uint32_t)v;
            return (int)l;
        }
    }
    return 0;
}

int encode_text(encoder *e, const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    e->n = e->wn = e->wlen = 0;
    uint32_t cp = 0; /* original code points consumed */
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c < 0x80) {
            uint32_t id;
            int l;
            if (c == '[' && (l = special_at(e, text + i, len - i, &id)) > 0) {
                if (flush(e) || emit(e, id, cp, cp + (uint32_t)l)) return -1;
                i += (size_t)l;
                cp += (uint32_t)l;
                continue;
            }
            int cls = e->aclass[c];
            if (cls != A_DROP && put(e, e->achar[c], cls, cp)) return -1;
            i++;
            cp++;
            continue;
        }
        size_t l;
        uint32_t u = decode(s + i, len - i, &l);
        norm_result r;
        normalize_cp(u, e->cased, &r);
        /* handle_chinese_chars: spaces around an ideograph make it a word */
        if (r.isolated && flush(e)) return -1;
        for (int k = 0; k < r.n; k++)
            if (put(e, r.cp[k], r.cls[k], cp)) return -1;
        if (r.isolated && flush(e)) return -1;
        i += l;
        cp++;
    }
    e->cps = cp;
    return flush(e);
}
