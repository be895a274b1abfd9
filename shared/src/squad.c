/* SQuAD JSON loading.  squad_scan.c reads well-formed files fast; when it
 * declines, jansson parses the bytes (its errors give line and column) and
 * the walk below checks the schema (its errors give the JSON path).  The
 * strings handed out point into the scanned buffer or the jansson tree,
 * which the sq_squad keeps until sq_squad_free: no copy of the texts.  The
 * walk runs twice: once to validate and count, once to fill arrays
 * allocated to the exact size. */
#include "sq/squad.h"
#include "squad_priv.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/hash.h"
#include "sq/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQuAD train is 30 MB; allow generous growth, refuse the absurd. */
#define SQUAD_MAX_BYTES ((size_t)1 << 31)

typedef struct {
    const char *name;       /* file name for messages */
    sq_squad *s;            /* NULL during the counting pass */
    uint64_t n_par, n_q, n_ans;
    bool any_impossible;
    /* Where the walk is, for error paths (formatted only on error). */
    int depth;              /* 0 root, 1 article, 2 paragraph, 3 question, 4 answer */
    size_t at[4];           /* data[i].paragraphs[j].qas[k].answers[m] */
} walk;

static uint64_t hash_str(const char *s) {
    /* FNV-1a: ids are short ASCII strings; quality is ample for a table at
     * load factor <= 1/2. */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* "<file>: data[3].paragraphs[7].qas[2].answers[0].answer_start: <why>";
 * key NULL names the current element itself. */
static int bad(const walk *w, const char *key, const char *why) {
    static const char *const level[4] = {"data", "paragraphs", "qas", "answers"};
    char path[256];
    size_t n = 0;
    path[0] = 0;
    for (int d = 0; d < w->depth && d < 4; d++)
        n += (size_t)snprintf(path + n, sizeof path - n, "%s%s[%zu]", d ? "." : "", level[d], w->at[d]);
    if (key) snprintf(path + n, sizeof path - n, "%s%s", n ? "." : "", key);
    return sq_err("%s: %s: %s", w->name, path, why);
}

static const char *type_name(json_type type) {
    switch (type) {
    case JSON_STRING: return "expected a string";
    case JSON_ARRAY: return "expected an array";
    case JSON_OBJECT: return "expected an object";
    case JSON_INTEGER: return "expected an integer";
    default: return "expected true or false";
    }
}

/* The member key of obj with the given type (JSON_TRUE: any boolean).
 * Missing: NULL, an error only if required; *err tells errors apart. */
static const json_t *member(const walk *w, const json_t *obj, const char *key, json_type type,
                            bool required, bool *err) {
    const json_t *v = json_object_get(obj, key);
    *err = false;
    if (!v) {
        if (required) *err = bad(w, key, "missing") != 0;
        return NULL;
    }
    if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v))) {
        *err = bad(w, key, type_name(type)) != 0;
        return NULL;
    }
    return v;
}

/* A string member with no embedded NUL (ids and titles are C strings). */
static const char *cstring(const walk *w, const json_t *obj, const char *key, bool required) {
    bool err;
    const json_t *v = member(w, obj, key, JSON_STRING, required, &err);
    if (!v) return err ? NULL : "";
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        bad(w, key, "must not contain \\u0000");
        return NULL;
    }
    return json_string_value(v);
}

static int walk_answers(walk *w, const json_t *qa, sq_squad_question *q) {
    bool err;
    if (q) q->answers = ((squad_priv *)w->s->priv)->answers + w->n_ans;
    const json_t *arr = member(w, qa, "answers", JSON_ARRAY, false, &err);
    if (!arr) return err ? -1 : 0;
    size_t n = json_array_size(arr);
    if (q) q->n_answers = (uint32_t)n;
    w->depth = 4;
    for (size_t m = 0; m < n; m++) {
        w->at[3] = m;
        const json_t *a = json_array_get(arr, m);
        if (!json_is_object(a)) return bad(w, NULL, "expected an object");
        const json_t *text = member(w, a, "text", JSON_STRING, true, &err);
        if (!text) return -1;
        const json_t *start = member(w, a, "answer_start", JSON_INTEGER, true, &err);
        if (!start) return -1;
        json_int_t v = json_integer_value(start);
        if (v < 0 || v > (json_int_t)UINT32_MAX) return bad(w, "answer_start", "out of range");
        if (q) {
            sq_squad_answer *x = &q->answers[m];
            x->text = json_string_value(text);
            x->len = json_string_length(text);
            x->start = (uint32_t)v;
        }
    }
    w->depth = 3;
    w->n_ans += n;
    return 0;
}

static int walk_question(walk *w, const json_t *qa, uint32_t par) {
    if (!json_is_object(qa)) return bad(w, NULL, "expected an object");
    bool err;
    const char *id = cstring(w, qa, "id", true);
    if (!id) return -1;
    const json_t *question = member(w, qa, "question", JSON_STRING, true, &err);
    if (!question) return -1;
    const json_t *imp = member(w, qa, "is_impossible", JSON_TRUE, false, &err);
    if (err) return -1;
    bool impossible = imp && json_is_true(imp);
    sq_squad_question *q = w->s ? &w->s->questions[w->n_q] : NULL;
    if (q) {
        q->id = id;
        q->question = json_string_value(question);
        q->question_len = json_string_length(question);
        q->paragraph = par;
        q->is_impossible = impossible;
    }
    if (walk_answers(w, qa, q)) return -1;
    if (impossible) w->any_impossible = true;
    if (w->n_q == UINT32_MAX) return bad(w, NULL, "too many questions");
    w->n_q++;
    return 0;
}

static int walk_paragraph(walk *w, const json_t *p, const char *title) {
    if (!json_is_object(p)) return bad(w, NULL, "expected an object");
    bool err;
    const json_t *context = member(w, p, "context", JSON_STRING, true, &err);
    if (!context) return -1;
    const json_t *qas = member(w, p, "qas", JSON_ARRAY, true, &err);
    if (!qas) return -1;
    if (w->n_par == UINT32_MAX) return bad(w, NULL, "too many paragraphs");
    uint32_t par = (uint32_t)w->n_par;
    if (w->s) {
        sq_squad_paragraph *sp = &w->s->paragraphs[par];
        squad_priv *pv = w->s->priv;
        pv->where[par][0] = (uint32_t)w->at[0];
        pv->where[par][1] = (uint32_t)w->at[1];
        sp->title = title;
        sp->context = json_string_value(context);
        sp->context_len = json_string_length(context);
        sp->first_question = (uint32_t)w->n_q;
        sp->n_questions = (uint32_t)json_array_size(qas);
    }
    w->depth = 3;
    for (size_t k = 0; k < json_array_size(qas); k++) {
        w->at[2] = k;
        if (walk_question(w, json_array_get(qas, k), par)) return -1;
    }
    w->depth = 2;
    w->n_par++;
    return 0;
}

static int walk_root(walk *w, const json_t *root) {
    if (!json_is_object(root)) return sq_err("%s: expected a JSON object at the top", w->name);
    bool err;
    if (!member(w, root, "version", JSON_STRING, false, &err) && err) return -1;
    const json_t *data = member(w, root, "data", JSON_ARRAY, true, &err);
    if (!data) return -1;
    for (size_t i = 0; i < json_array_size(data); i++) {
        w->depth = 1;
        w->at[0] = i;
        const json_t *art = json_array_get(data, i);
        if (!json_is_object(art)) return bad(w, NULL, "expected an object");
        /* XQuAD and SQuAD carry a title; tolerate its absence (empty). */
        const char *title = cstring(w, art, "title", false);
        if (!title) return -1;
        const json_t *pars = member(w, art, "paragraphs", JSON_ARRAY, true, &err);
        if (!pars) return -1;
        w->depth = 2;
        for (size_t j = 0; j < json_array_size(pars); j++) {
            w->at[1] = j;
            if (walk_paragraph(w, json_array_get(pars, j), title)) return -1;
        }
    }
    w->depth = 0;
    return 0;
}

/* Inserts every id; a repeated id is an error naming both occurrences. */
int squad_index_ids(sq_squad *s, const char *name) {
    squad_priv *pv = s->priv;
    size_t cap = 16;
    while (cap < 2 * (size_t)s->n_questions) cap *= 2;
    pv->slots = sq_calloc(cap, sizeof *pv->slots);
    if (!pv->slots) return -1;
    pv->mask = cap - 1;
    for (uint32_t i = 0; i < s->n_questions; i++) {
        const char *id = s->questions[i].id;
        size_t h = hash_str(id) & pv->mask;
        while (pv->slots[h]) {
            uint32_t j = pv->slots[h] - 1;
            if (strcmp(s->questions[j].id, id) == 0) {
                const sq_squad_question *a = &s->questions[j], *b = &s->questions[i];
                const uint32_t *wa = pv->where[a->paragraph], *wb = pv->where[b->paragraph];
                return sq_err("%s: data[%u].paragraphs[%u].qas[%u].id: duplicate question id \"%s\" "
                              "(first at data[%u].paragraphs[%u].qas[%u])",
                              name, wb[0], wb[1], i - s->paragraphs[b->paragraph].first_question, id, wa[0], wa[1],
                              j - s->paragraphs[a->paragraph].first_question);
            }
            h = (h + 1) & pv->mask;
        }
        pv->slots[h] = i + 1;
    }
    return 0;
}

long sq_squad_find(const sq_squad *s, const char *id) {
    const squad_priv *pv = s->priv;
    size_t h = hash_str(id) & pv->mask;
    while (pv->slots[h]) {
        uint32_t j = pv->slots[h] - 1;
        if (strcmp(s->questions[j].id, id) == 0) return j;
        h = (h + 1) & pv->mask;
    }
    return -1;
}

int squad_alloc(sq_squad **out, uint64_t n_par, uint64_t n_q, uint64_t n_ans) {
    sq_squad *s = sq_calloc(1, sizeof *s);
    squad_priv *pv = s ? sq_calloc(1, sizeof *pv) : NULL;
    if (!pv) {
        free(s);
        return -1;
    }
    s->priv = pv;
    s->n_paragraphs = (uint32_t)n_par;
    s->n_questions = (uint32_t)n_q;
    /* sq_calloc refuses a zero size: allocate at least one element. */
    s->paragraphs = sq_calloc(n_par ? n_par : 1, sizeof *s->paragraphs);
    s->questions = sq_calloc(n_q ? n_q : 1, sizeof *s->questions);
    pv->answers = sq_calloc(n_ans ? n_ans : 1, sizeof *pv->answers);
    pv->where = sq_calloc(n_par ? n_par : 1, sizeof *pv->where);
    s->version = sq_strdup("");
    if (!s->paragraphs || !s->questions || !pv->answers || !pv->where || !s->version) {
        sq_squad_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The checked path: jansson's tree, walked twice. */
static int from_json(const char *name, json_t *root, sq_squad **out) {
    walk w = {.name = name};
    sq_squad *s;
    if (walk_root(&w, root) || squad_alloc(&s, w.n_par, w.n_q, w.n_ans)) {
        json_decref(root);
        return -1;
    }
    ((squad_priv *)s->priv)->root = root;
    const json_t *version = json_object_get(root, "version");
    if (version) {
        free(s->version);
        if (!(s->version = sq_strdup(json_string_value(version)))) goto fail;
    }
    walk fill = {.name = name, .s = s};
    if (walk_root(&fill, root)) goto fail;
    s->v2 = squad_version_is_v2(s->version) || w.any_impossible;
    *out = s;
    return 0;
fail:
    sq_squad_free(s);
    return -1;
}

bool squad_version_is_v2(const char *version) {
    if (*version == 'v' || *version == 'V') version++;
    return *version == '2';
}

int squad_load_checked(const char *name, const char *buf, size_t len, sq_squad **out) {
    json_t *root = sq_json_loadb(name, buf, len);
    return !root || from_json(name, root, out) ? -1 : 0;
}

/* buf (len bytes and a NUL after them) becomes owned by *out or is freed. */
static int load_owned(const char *name, char *buf, size_t len, sq_squad **out) {
    uint8_t sha[32];
    if (sq_sha256(buf, len, sha)) {
        free(buf);
        return -1;
    }
    sq_squad *s = NULL;
    int rc = squad_scan(buf, len, &s);
    if (rc == SQUAD_SCAN_ERROR) {
        free(buf);
        return -1;
    }
    if (rc == SQUAD_SCAN_FALLBACK) {
        rc = squad_load_checked(name, buf, len, &s);
        /* The tree holds its own copies of the strings. */
        free(buf);
        if (rc) return -1;
    }
    memcpy(s->sha256, sha, 32);
    if (squad_index_ids(s, name)) {
        sq_squad_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int sq_squad_loadb(const char *name, const char *buf, size_t len, sq_squad **out) {
    char *copy = sq_malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, buf, len);
    copy[len] = 0;
    return load_owned(name, copy, len, out);
}

int sq_squad_load(const char *path, sq_squad **out) {
    char *buf;
    size_t len;
    if (sq_read_file(path, SQUAD_MAX_BYTES, &buf, &len)) return -1;
    /* sq_read_file doubles its buffer while reading; give back the slack. */
    char *fit = realloc(buf, len + 1);
    if (fit) buf = fit;
    return load_owned(strcmp(path, "-") ? path : "<stdin>", buf, len, out);
}

void sq_squad_free(sq_squad *s) {
    if (!s) return;
    squad_priv *pv = s->priv;
    if (pv) {
        json_decref(pv->root);
        free(pv->text);
        free(pv->slots);
        free(pv->answers);
        free(pv->where);
        free(pv);
    }
    free(s->version);
    free(s->paragraphs);
    free(s->questions);
    free(s);
}
