/* DIR/vocab.txt and DIR/tokenizer_config.json.  transformers' BertTokenizer
 * (and BertTokenizerFast, whose normalizer follows the config) reads
 * do_lower_case (default true), strip_accents (null: the same as
 * do_lower_case), tokenize_chinese_chars and do_basic_tokenize (default
 * true).  sq-tokenize's two setups are uncased (lowercase + strip accents)
 * and cased (neither), with CJK splitting and basic tokenization always on. */
#include "hf_folder.h"

#include "sq/error.h"
#include "sq/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *in_dir(const char *dir, const char *name) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *p = sq_malloc(n + strlen(name) + 2);
    if (p) sprintf(p, "%.*s/%s", (int)n, dir, name);
    return p;
}

/* A key that is absent or null takes def; otherwise it must be a boolean. */
static int get_bool(json_t *j, const char *path, const char *key, int def, int *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return sq_err("%s: %s: expected true, false or null", path, key);
    *out = json_is_true(v);
    return 0;
}

static int read_config(const char *path, hf_folder *f) {
    json_t *j = sq_json_load(path);
    if (!j) return -1;
    int lower = 1, strip = -1, cjk = 1, basic = 1, rc = -1;
    if (!json_is_object(j)) {
        sq_err("%s: expected a JSON object", path);
        goto done;
    }
    f->stated = json_is_boolean(json_object_get(j, "do_lower_case"));
    if (get_bool(j, path, "do_lower_case", 1, &lower) || get_bool(j, path, "strip_accents", -1, &strip) ||
        get_bool(j, path, "tokenize_chinese_chars", 1, &cjk) || get_bool(j, path, "do_basic_tokenize", 1, &basic))
        goto done;
    if (strip >= 0 && strip != lower) {
        sq_err("%s: strip_accents %s with do_lower_case %s is not supported (sq-tokenize strips accents exactly "
               "when it lowercases, as BertTokenizer does when strip_accents is null)",
               path, strip ? "true" : "false", lower ? "true" : "false");
        goto done;
    }
    if (!cjk) {
        sq_err("%s: tokenize_chinese_chars false is not supported", path);
        goto done;
    }
    if (!basic) {
        sq_err("%s: do_basic_tokenize false is not supported", path);
        goto done;
    }
    f->lower = lower;
    rc = 0;
done:
    json_decref(j);
    return rc;
}

int hf_folder_read(const char *dir, hf_folder *f) {
    memset(f, 0, sizeof *f);
    f->lower = true;
    f->vocab_path = in_dir(dir, "vocab.txt");
    char *cfg = in_dir(dir, "tokenizer_config.json");
    int rc = -1;
    struct stat s;
    if (!f->vocab_path || !cfg) goto done;
    if (stat(f->vocab_path, &s)) {
        sq_err("%s: no vocab.txt in this folder (sq-tokenize reads BERT's WordPiece vocabulary; "
               "scripts/get-model.sh fetches a model folder)", dir);
        goto done;
    }
    rc = stat(cfg, &s) ? 0 : read_config(cfg, f);
done:
    free(cfg);
    if (rc) hf_folder_free(f);
    return rc;
}

void hf_folder_free(hf_folder *f) {
    free(f->vocab_path);
    f->vocab_path = NULL;
}
