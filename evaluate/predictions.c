#include "predictions.h"

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"

#include <stdlib.h>
#include <string.h>

/* Prediction files for SQuAD dev are about 1 MB; allow far more. */
#define SQ_PREDS_MAX ((size_t)1 << 30)

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The id, quoted and cut short, for messages. */
static const char *show_id(const char *id, char buf[64]) {
    size_t n = strlen(id);
    if (n <= 48) snprintf(buf, 64, "\"%s\"", id);
    else snprintf(buf, 64, "\"%.45s...\"", id);
    return buf;
}

int sq_preds_parse(const char *name, const char *buf, size_t len, const sq_squad *s, sq_preds **out) {
    *out = NULL;
    json_t *root = sq_json_loadb(name, buf, len);
    if (!root) return -1;
    if (!json_is_object(root)) {
        sq_err("%s: expected a JSON object {\"question id\": \"answer text\"}, got %s", name, type_name(root));
        json_decref(root);
        return -1;
    }
    sq_preds *p = sq_calloc(1, sizeof *p);
    if (!p) {
        json_decref(root);
        return -1;
    }
    p->priv = root;
    p->n_questions = s->n_questions;
    p->text = sq_calloc(s->n_questions + 1, sizeof *p->text);
    p->len = sq_calloc(s->n_questions + 1, sizeof *p->len);
    if (!p->text || !p->len) goto fail;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char idbuf[64];
        if (!json_is_string(v)) {
            sq_err("%s: %s: expected a string (the answer text), got %s", name, show_id(key, idbuf), type_name(v));
            goto fail;
        }
        p->n_given++;
        long q = sq_squad_find(s, key);
        if (q < 0) {
            p->n_unknown++;
            continue;
        }
        p->text[q] = json_string_value(v);
        p->len[q] = json_string_length(v);
    }
    *out = p;
    return 0;
fail:
    sq_preds_free(p);
    return -1;
}

int sq_preds_load(const char *path, const sq_squad *s, sq_preds **out) {
    char *buf;
    size_t len;
    *out = NULL;
    if (sq_read_file(path, SQ_PREDS_MAX, &buf, &len)) return -1;
    int rc = sq_preds_parse(strcmp(path, "-") ? path : "<stdin>", buf, len, s, out);
    free(buf);
    return rc;
}

void sq_preds_free(sq_preds *p) {
    if (!p) return;
    json_decref(p->priv);
    free(p->text);
    free(p->len);
    free(p);
}

int sq_na_probs_parse(const char *name, const char *buf, size_t len, const sq_squad *s, sq_na_prob **out, size_t *n,
                      uint32_t *n_unknown) {
    *out = NULL;
    *n = 0;
    *n_unknown = 0;
    json_t *root = sq_json_loadb(name, buf, len);
    if (!root) return -1;
    if (!json_is_object(root)) {
        sq_err("%s: expected a JSON object {\"question id\": probability}, got %s", name, type_name(root));
        json_decref(root);
        return -1;
    }
    sq_na_prob *a = sq_calloc(json_object_size(root) + 1, sizeof *a);
    if (!a) {
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char idbuf[64];
        if (!json_is_number(v)) {
            sq_err("%s: %s: expected a number (the no-answer probability), got %s", name, show_id(key, idbuf),
                   type_name(v));
            free(a);
            json_decref(root);
            return -1;
        }
        long q = sq_squad_find(s, key);
        if (q < 0) {
            (*n_unknown)++;
            continue;
        }
        a[*n] = (sq_na_prob){(uint32_t)q, json_number_value(v)};
        (*n)++;
    }
    json_decref(root);
    *out = a;
    return 0;
}

int sq_na_probs_load(const char *path, const sq_squad *s, sq_na_prob **out, size_t *n, uint32_t *n_unknown) {
    char *buf;
    size_t len;
    *out = NULL;
    if (sq_read_file(path, SQ_PREDS_MAX, &buf, &len)) return -1;
    int rc = sq_na_probs_parse(strcmp(path, "-") ? path : "<stdin>", buf, len, s, out, n, n_unknown);
    free(buf);
    return rc;
}
