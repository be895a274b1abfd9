/* The fast SQuAD reader: a JSON scanner that knows the SQuAD layout,
 * several times faster than building a jansson tree and without its
 * memory.  It accepts only what jansson (with JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL) accepts and what the checked walk in squad.c accepts;
 * anything it is unsure of (a syntax or schema error, a real number, an
 * unknown key with an escape, deep nesting) is left to that slower path,
 * which then reports the error.  Two passes: the first validates and
 * counts without writing, the second decodes strings in place and fills
 * the arrays. */
#include "squad_priv.h"
#include "sq/error.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_UNKNOWN 16

typedef struct {
    char *p, *end;
    bool fill;
    sq_squad *s;
    uint64_t n_par, n_q, n_ans;
    bool any_impossible;
    uint32_t article, in_article; /* where the next paragraph sits */
} scan;

/* Every failure below is "not sure": leave it to jansson. */
#define NEED(cond) do { if (!(cond)) return -1; } while (0)

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int hex4(const char *p, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *v = x;
    return 0;
}

static char *put_utf8(char *o, uint32_t c) {
    if (c < 0x80) *o++ = (char)c;
    else if (c < 0x800) {
        *o++ = (char)(0xC0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *o++ = (char)(0xE0 | c >> 12);
        *o++ = (char)(0x80 | (c >> 6 & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else {
        *o++ = (char)(0xF0 | c >> 18);
        *o++ = (char)(0x80 | (c >> 12 & 0x3F));
        *o++ = (char)(0x80 | (c >> 6 & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    }
    return o;
}

/* A UTF-8 sequence starting with a byte >= 0x80 at p: its length, or 0
 * when it is not valid (overlong, surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (!k || c > 0xF4 || (size_t)(end - p) < k) return 0;
    uint32_t v = c & (0x3F >> (k - 1));
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if ((k == 3 && (v < 0x800 || (v >= 0xD800 && v < 0xE000))) || (k == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    return k;
}

/* How many bytes from p on need no attention inside a string: eight at a
 * time, stopping at a quote, a backslash, a control byte or non-ASCII
 * (the classic "has a byte less than / equal to" word tricks; they never
 * miss one, and a false alarm only sends a byte to the slow loop). */
static size_t plain_run(const char *p, const char *end) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    const char *q = p;
    while (end - q >= 8) {
        uint64_t x;
        memcpy(&x, q, 8);
        uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
        uint64_t hit = (x & high) | ((x - ones * 0x20) & ~x & high) | ((quote - ones) & ~quote & high) |
                       ((slash - ones) & ~slash & high);
        if (hit) break;
        q += 8;
    }
    return (size_t)(q - p);
}

/* A string at s->p (on its opening quote).  Validating: checks it.
 * Filling: decodes it in place, NUL-terminates it and sets *out, *len;
 * *has_nul tells whether it holds U+0000; *escaped whether it had any
 * escape (only needed when validating). */
static int string(scan *s, char **out, size_t *len, bool *has_nul, bool *escaped) {
    NEED(s->p < s->end && *s->p == '"');
    char *p = ++s->p, *o = p;
    bool nul = false, esc = false;
    for (;;) {
        size_t run = plain_run(p, s->end);
        if (s->fill && o != p) memmove(o, p, run);
        o += run;
        p += run;
        NEED(p < s->end);
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) return -1;
        if (c >= 0x80) {
            size_t k = utf8_len((const unsigned char *)p, (const unsigned char *)s->end);
            NEED(k);
            if (s->fill) memmove(o, p, k);
            o += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            if (s->fill) *o = (char)c;
            o++;
            p++;
            continue;
        }
        esc = true;
        NEED(s->end - p >= 2);
        char e = p[1];
        p += 2;
        uint32_t u;
        switch (e) {
        case '"': u = '"'; break;
        case '\\': u = '\\'; break;
        case '/': u = '/'; break;
        case 'b': u = '\b'; break;
        case 'f': u = '\f'; break;
        case 'n': u = '\n'; break;
        case 'r': u = '\r'; break;
        case 't': u = '\t'; break;
        case 'u':
            NEED(s->end - p >= 4 && hex4(p, &u) == 0);
            p += 4;
            if (u >= 0xDC00 && u < 0xE000) return -1;
            if (u >= 0xD800 && u < 0xDC00) {
                uint32_t lo;
                NEED(s->end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) == 0);
                NEED(lo >= 0xDC00 && lo < 0xE000);
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (u == 0) nul = true;
            break;
        default: return -1;
        }
        /* Decoded bytes never outrun the escape that spelled them. */
        if (s->fill) o = put_utf8(o, u);
        else o += u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4;
    }
    if (s->fill) {
        *o = 0;
        *out = s->p;
    }
    *len = (size_t)(o - s->p);
    s->p = p + 1;
    if (has_nul) *has_nul = nul;
    if (escaped) *escaped = esc;
    return 0;
}

static int literal(scan *s, const char *word) {
    size_t n = strlen(word);
    NEED((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0);
    s->p += n;
    return 0;
}

/* An integer in JSON's grammar that jansson reads as an integer (no
 * fraction or exponent: those are reals, left to jansson) and that fits
 * 18 digits, so that no overflow question arises. */
static int integer(scan *s, long long *v) {
    bool neg = s->p < s->end && *s->p == '-';
    if (neg) s->p++;
    char *d = s->p;
    NEED(s->p < s->end && *s->p >= '0' && *s->p <= '9');
    if (*s->p == '0') s->p++;
    else
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    NEED(s->p - d <= 18);
    NEED(s->p >= s->end || (*s->p != '.' && *s->p != 'e' && *s->p != 'E' && !(*s->p >= '0' && *s->p <= '9')));
    long long x = 0;
    for (char *q = d; q < s->p; q++) x = x * 10 + (*q - '0');
    *v = neg ? -x : x;
    return 0;
}

static int skip_value(scan *s, int depth);

/* The members of an object, one key at a time: first call with *first set. */
static int next_key(scan *s, bool *first, char **key, size_t *klen, bool *done) {
    ws(s);
    NEED(s->p < s->end);
    if (*first) {
        *first = false;
        if (*s->p == '}') {
            s->p++;
            *done = true;
            return 0;
        }
    } else {
        if (*s->p == '}') {
            s->p++;
            *done = true;
            return 0;
        }
        NEED(*s->p == ',');
        s->p++;
        ws(s);
    }
    *done = false;
    char *start = s->p + 1;
    bool esc;
    bool fill = s->fill;
    s->fill = false; /* keys stay as written: compared raw, never stored */
    int rc = string(s, key, klen, NULL, &esc);
    s->fill = fill;
    NEED(rc == 0 && !esc);
    *key = start;
    ws(s);
    NEED(s->p < s->end && *s->p == ':');
    s->p++;
    ws(s);
    return 0;
}

/* Duplicate keys among those the reader does not know: jansson rejects
 * every duplicate, so they must be seen. */
typedef struct {
    const char *k[MAX_UNKNOWN];
    size_t n[MAX_UNKNOWN];
    int count;
} unknown_keys;

static int unknown(scan *s, unknown_keys *u, const char *key, size_t klen, int depth) {
    for (int i = 0; i < u->count; i++) NEED(!(u->n[i] == klen && memcmp(u->k[i], key, klen) == 0));
    NEED(u->count < MAX_UNKNOWN);
    u->k[u->count] = key;
    u->n[u->count++] = klen;
    return skip_value(s, depth + 1);
}

static int skip_value(scan *s, int depth) {
    NEED(depth < MAX_DEPTH && s->p < s->end);
    char c = *s->p;
    if (c == '"') {
        char *x;
        size_t n;
        bool fill = s->fill;
        s->fill = false;
        int rc = string(s, &x, &n, NULL, NULL);
        s->fill = fill;
        return rc;
    }
    if (c == '{') {
        s->p++;
        bool first = true, done;
        unknown_keys u = {0};
        for (;;) {
            char *key;
            size_t klen;
            NEED(next_key(s, &first, &key, &klen, &done) == 0);
            if (done) return 0;
            NEED(unknown(s, &u, key, klen, depth) == 0);
        }
    }
    if (c == '[') {
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        for (;;) {
            ws(s);
            NEED(skip_value(s, depth + 1) == 0);
            ws(s);
            NEED(s->p < s->end);
            if (*s->p == ']') {
                s->p++;
                return 0;
            }
            NEED(*s->p == ',');
            s->p++;
        }
    }
    if (c == 't') return literal(s, "true");
    if (c == 'f') return literal(s, "false");
    if (c == 'n') return literal(s, "null");
    long long v;
    return integer(s, &v);
}

/* An array whose elements fn reads; fn gets the element index. */
typedef int (*element_fn)(scan *s, void *ctx);
static int array(scan *s, element_fn fn, void *ctx) {
    NEED(s->p < s->end && *s->p == '[');
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        ws(s);
        NEED(fn(s, ctx) == 0);
        ws(s);
        NEED(s->p < s->end);
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        NEED(*s->p == ',');
        s->p++;
    }
}

#define KEY(name) (klen == sizeof name - 1 && memcmp(key, name, klen) == 0)
#define ONCE(bit) do { NEED(!(seen & (bit))); seen |= (bit); } while (0)

static int answer(scan *s, void *ctx) {
    sq_squad_question *q = ctx;
    NEED(s->p < s->end && *s->p == '{');
    s->p++;
    bool first = true, done;
    unsigned seen = 0;
    unknown_keys u = {0};
    sq_squad_answer a = {0};
    for (;;) {
        char *key;
        size_t klen;
        NEED(next_key(s, &first, &key, &klen, &done) == 0);
        if (done) break;
        if (KEY("text")) {
            ONCE(1);
            char *t = NULL;
            NEED(string(s, &t, &a.len, NULL, NULL) == 0);
            if (s->fill) a.text = t;
        } else if (KEY("answer_start")) {
            ONCE(2);
            long long v;
            NEED(integer(s, &v) == 0 && v >= 0 && v <= (long long)UINT32_MAX);
            a.start = (uint32_t)v;
        } else {
            NEED(unknown(s, &u, key, klen, 4) == 0);
        }
    }
    NEED(seen == 3);
    if (s->fill) q->answers[q->n_answers++] = a;
    s->n_ans++;
    return 0;
}

static int question(scan *s, void *ctx) {
    uint32_t par = *(uint32_t *)ctx;
    NEED(s->p < s->end && *s->p == '{' && s->n_q < UINT32_MAX);
    s->p++;
    sq_squad_question *q = s->fill ? &s->s->questions[s->n_q] : NULL;
    sq_squad_question dummy = {0};
    if (!q) q = &dummy;
    q->paragraph = par;
    q->answers = s->fill ? ((squad_priv *)s->s->priv)->answers + s->n_ans : NULL;
    bool first = true, done;
    unsigned seen = 0;
    unknown_keys u = {0};
    for (;;) {
        char *key;
        size_t klen;
        NEED(next_key(s, &first, &key, &klen, &done) == 0);
        if (done) break;
        if (KEY("id")) {
            ONCE(1);
            char *t = NULL;
            size_t n;
            bool nul;
            NEED(string(s, &t, &n, &nul, NULL) == 0 && !nul);
            q->id = t;
        } else if (KEY("question")) {
            ONCE(2);
            char *t = NULL;
            NEED(string(s, &t, &q->question_len, NULL, NULL) == 0);
            q->question = t;
        } else if (KEY("answers")) {
            ONCE(4);
            NEED(array(s, answer, q) == 0);
        } else if (KEY("is_impossible")) {
            ONCE(8);
            if (s->p < s->end && *s->p == 't') {
                NEED(literal(s, "true") == 0);
                q->is_impossible = true;
                s->any_impossible = true;
            } else {
                NEED(literal(s, "false") == 0);
            }
        } else {
            NEED(unknown(s, &u, key, klen, 3) == 0);
        }
    }
    NEED((seen & 3) == 3);
    s->n_q++;
    return 0;
}

static int paragraph(scan *s, void *ctx) {
    NEED(s->p < s->end && *s->p == '{' && s->n_par < UINT32_MAX);
    s->p++;
    uint32_t par = (uint32_t)s->n_par;
    sq_squad_paragraph *p = s->fill ? &s->s->paragraphs[par] : NULL;
    if (p) {
        squad_priv *pv = s->s->priv;
        pv->where[par][0] = s->article;
        pv->where[par][1] = s->in_article;
    }
    uint64_t q0 = s->n_q;
    bool first = true, done;
    unsigned seen = 0;
    unknown_keys u = {0};
    for (;;) {
        char *key;
        size_t klen;
        NEED(next_key(s, &first, &key, &klen, &done) == 0);
        if (done) break;
        if (KEY("context")) {
            ONCE(1);
            char *t = NULL;
            size_t n;
            NEED(string(s, &t, &n, NULL, NULL) == 0);
            if (p) {
                p->context = t;
                p->context_len = n;
            }
        } else if (KEY("qas")) {
            ONCE(2);
            NEED(array(s, question, &par) == 0);
        } else {
            NEED(unknown(s, &u, key, klen, 2) == 0);
        }
    }
    NEED(seen == 3);
    if (p) {
        p->first_question = (uint32_t)q0;
        p->n_questions = (uint32_t)(s->n_q - q0);
    }
    s->n_par++;
    s->in_article++;
    return 0;
}

static int article(scan *s, void *ctx) {
    NEED(s->p < s->end && *s->p == '{');
    s->p++;
    uint64_t p0 = s->n_par;
    const char *title = "";
    bool first = true, done;
    unsigned seen = 0;
    unknown_keys u = {0};
    for (;;) {
        char *key;
        size_t klen;
        NEED(next_key(s, &first, &key, &klen, &done) == 0);
        if (done) break;
        if (KEY("title")) {
            ONCE(1);
            char *t = NULL;
            size_t n;
            bool nul;
            NEED(string(s, &t, &n, &nul, NULL) == 0 && !nul);
            if (s->fill) title = t;
        } else if (KEY("paragraphs")) {
            ONCE(2);
            NEED(array(s, paragraph, NULL) == 0);
        } else {
            NEED(unknown(s, &u, key, klen, 1) == 0);
        }
    }
    NEED(seen & 2);
    s->article++;
    s->in_article = 0;
    /* The title may follow the paragraphs (XQuAD puts it last). */
    if (s->fill)
        for (uint64_t i = p0; i < s->n_par; i++) s->s->paragraphs[i].title = title;
    return 0;
}

static int root(scan *s) {
    ws(s);
    NEED(s->p < s->end && *s->p == '{');
    s->p++;
    bool first = true, done;
    unsigned seen = 0;
    unknown_keys u = {0};
    for (;;) {
        char *key;
        size_t klen;
        NEED(next_key(s, &first, &key, &klen, &done) == 0);
        if (done) break;
        if (KEY("version")) {
            ONCE(1);
            char *t = NULL;
            size_t n;
            bool nul;
            NEED(string(s, &t, &n, &nul, NULL) == 0 && !nul);
            if (s->fill) {
                free(s->s->version);
                s->s->version = sq_strdup(t);
                NEED(s->s->version);
            }
        } else if (KEY("data")) {
            ONCE(2);
            NEED(array(s, article, NULL) == 0);
        } else {
            NEED(unknown(s, &u, key, klen, 0) == 0);
        }
    }
    NEED(seen & 2);
    ws(s);
    NEED(s->p == s->end);
    return 0;
}

int squad_scan(char *buf, size_t len, sq_squad **out) {
    scan s = {.p = buf, .end = buf + len};
    /* jansson refuses a NUL byte anywhere in its input; so does root(),
     * since a raw NUL is neither JSON syntax nor allowed in a string. */
    if (root(&s)) return SQUAD_SCAN_FALLBACK;
    sq_squad *sq;
    if (squad_alloc(&sq, s.n_par, s.n_q, s.n_ans)) return SQUAD_SCAN_ERROR;
    scan f = {.p = buf, .end = buf + len, .fill = true, .s = sq};
    if (root(&f)) {
        /* The first pass accepted these bytes; only allocation can fail. */
        sq_squad_free(sq);
        return SQUAD_SCAN_ERROR;
    }
    sq->v2 = squad_version_is_v2(sq->version) || s.any_impossible;
    ((squad_priv *)sq->priv)->text = buf;
    *out = sq;
    return SQUAD_SCAN_OK;
}
