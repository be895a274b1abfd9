/* Telling file kinds apart by their first bytes (see sq/filekind.h).  The
 * tests are cheap and ordered from the most to the least specific: sq's
 * magics, compressors' magics, safetensors' header, then JSON (looked at
 * through the keys of its top-level object) and text.  Only the first
 * HEAD bytes are read: enough for the first keys of any JSON sq meets. */
#include "sq/filekind.h"
#include "sq/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEAD (64 * 1024)
/* The safetensors reader's own bound (the Rust crate's MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000ull

static const sq_file_desc descs[SQ_FILE_KIND_COUNT] = {
    [SQ_FILE_EMPTY] = {"empty", NULL, NULL},
    [SQ_FILE_BINARY] = {"not a file sq knows (unknown content)", NULL, NULL},
    [SQ_FILE_TEXT] = {"a text file", NULL, NULL},
    [SQ_FILE_DIR] = {"a folder sq does not know", NULL, NULL},
    [SQ_FILE_TOKENS] = {"a tokens file from sq-tokenize", "sq-tokenize", "sq-pack"},
    [SQ_FILE_FEATURE_SHARD] = {"a feature shard (one file of a feature folder from sq-pack)", "sq-pack",
                               "sq-inspect"},
    [SQ_FILE_FEATURE_EXAMPLES] = {"the example table of a feature folder from sq-pack", "sq-pack", "sq-inspect"},
    [SQ_FILE_SQ_OTHER] = {"an sq file of a kind this sq does not read (from a newer sq?)", NULL, NULL},
    [SQ_FILE_FEATURES_DIR] = {"a feature folder from sq-pack", "sq-pack", "sq-train --data, sq-eval --features"},
    [SQ_FILE_FEATURE_MANIFEST] = {"the manifest of a feature folder from sq-pack", "sq-pack", NULL},
    [SQ_FILE_RUN_DIR] = {"a run folder from sq-train", "sq-train", "sq-inspect, sq-train --resume, report.sh"},
    [SQ_FILE_RUN_JSON] = {"the settings of an sq-train run (run.json)", "sq-train", "sq-inspect RUNDIR"},
    [SQ_FILE_CHECKPOINT_DIR] = {"a checkpoint folder from sq-train", "sq-train", "sq-inspect, sq-train --resume"},
    [SQ_FILE_CHECKPOINT_STATE] = {"the state of an sq-train checkpoint (state.json)", "sq-train", NULL},
    [SQ_FILE_METRICS] = {"JSON lines (such as sq-train's metrics.jsonl)", "sq-train", "report.sh"},
    [SQ_FILE_TRACE] = {"a profile trace from sq-train --profile", "sq-train", NULL},
    [SQ_FILE_SAFETENSORS] = {"a safetensors file (weights or logits)", "sq-train",
                             "sq-train --init, sq-eval --logits, sq-inspect"},
    [SQ_FILE_SQUAD] = {"a SQuAD JSON dataset", NULL, "sq-tokenize, sq-eval --dataset"},
    [SQ_FILE_MODEL_CONFIG] = {"a model config (HF config.json)", "sq-train", "sq-train --config"},
    [SQ_FILE_TOKENIZER_CONFIG] = {"a HuggingFace tokenizer file (tokenizer.json or tokenizer_config.json)", NULL,
                                  NULL},
    [SQ_FILE_HF_MODEL_DIR] = {"a HuggingFace model folder", NULL, NULL},
    [SQ_FILE_PREDICTIONS] = {"a predictions JSON (answers by question id)", "sq-eval",
                             "sq-eval --predictions"},
    [SQ_FILE_NUMBERS] = {"a JSON of numbers by question id (no-answer probabilities or null odds)", "sq-eval",
                         "sq-eval --na-probs"},
    [SQ_FILE_JSON] = {"a JSON file", NULL, NULL},
    [SQ_FILE_VOCAB] = {"a WordPiece vocabulary (vocab.txt)", NULL, "sq-tokenize --vocab"},
    [SQ_FILE_GZIP] = {"gzip-compressed", NULL, NULL},
    [SQ_FILE_ZSTD] = {"zstd-compressed", NULL, NULL},
    [SQ_FILE_ZIP] = {"a zip archive (a PyTorch .bin checkpoint is one)", NULL, NULL},
};

const sq_file_desc *sq_file_describe(sq_file_kind kind) {
    return kind < SQ_FILE_KIND_COUNT ? &descs[kind] : &descs[SQ_FILE_BINARY];
}

/* ---- JSON: the members of the top-level object seen within the head ---- */

typedef struct {
    const unsigned char *p, *end;
} cur;

static void ws(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* A string at c->p ('"'): its first cap-1 raw bytes into out (escapes kept
 * as written: keys and values that matter here have none).  0 when it ends
 * within the head. */
static int string(cur *c, char *out, size_t cap) {
    size_t n = 0;
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '\\') {
            if (++c->p == c->end) return -1;
        } else if (*c->p == '"') {
            c->p++;
            if (out) out[n] = 0;
            return 0;
        }
        if (out && n + 1 < cap) out[n++] = (char)*c->p;
    }
    return -1;
}

/* Skips any value; 0 when it ends within the head. */
static int skip_value(cur *c) {
    ws(c);
    if (c->p == c->end) return -1;
    if (*c->p == '"') return string(c, NULL, 0);
    if (*c->p != '{' && *c->p != '[') {
        while (c->p < c->end && !strchr(",}] \t\r\n", *c->p)) c->p++;
        return c->p < c->end ? 0 : -1;
    }
    int depth = 0;
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            if (string(c, NULL, 0)) return -1;
            continue;
        }
        c->p++;
        if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0) return 0;
    }
    return -1;
}

typedef struct {
    unsigned members, strings, numbers;
    bool data_array, version_first, format_features, tool_train, trace, step, steps_per_epoch, tokenizer, config;
    bool closed, another; /* the object ended in the head; another one follows it */
} members;

static bool in(const char *key, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(key, *set)) return true;
    return false;
}

static void json_object(cur *c, members *m) {
    static const char *const tokenizer[] = {"tokenizer_class", "do_lower_case", "model_max_length",
                                            "added_tokens_decoder", "tokenize_chinese_chars", "added_tokens",
                                            "normalizer", "pre_tokenizer", NULL};
    static const char *const config[] = {"hidden_size", "num_hidden_layers", "num_attention_heads",
                                         "intermediate_size", "model_type", "architectures", NULL};
    c->p++;
    for (;;) {
        ws(c);
        if (c->p == c->end) return;
        if (*c->p == '}') break;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        char key[64], val[32] = "";
        if (*c->p != '"' || string(c, key, sizeof key)) return;
        ws(c);
        if (c->p == c->end || *c->p != ':') return;
        c->p++;
        ws(c);
        if (c->p == c->end) return;
        unsigned char first = *c->p;
        m->members++;
        /* Before the value: a SQuAD file's "data" runs far past the head. */
        if (!strcmp(key, "data") && first == '[') m->data_array = true;
        if (!strcmp(key, "traceEvents")) m->trace = true;
        if (!strcmp(key, "step")) m->step = true;
        if (!strcmp(key, "steps_per_epoch")) m->steps_per_epoch = true;
        if (in(key, tokenizer)) m->tokenizer = true;
        if (in(key, config)) m->config = true;
        if (first == '"') {
            if (string(c, val, sizeof val)) return;
            m->strings++;
            if (!strcmp(key, "format") && !strcmp(val, "sq-features")) m->format_features = true;
            if (!strcmp(key, "tool") && !strcmp(val, "sq-train")) m->tool_train = true;
            /* SQuAD v2.0 files open with "version": "v2.0" */
            if (!strcmp(key, "version") && m->members == 1) m->version_first = true;
        } else {
            if (first == '-' || (first >= '0' && first <= '9')) m->numbers++;
            if (skip_value(c)) return;
        }
    }
    c->p++;
    m->closed = true;
    ws(c);
    m->another = c->p < c->end && *c->p == '{';
}

static sq_file_kind json_kind(const unsigned char *p, size_t n) {
    cur c = {p, p + n};
    ws(&c);
    if (*c.p == '[') return SQ_FILE_JSON;
    members m = {0};
    json_object(&c, &m);
    if (m.format_features) return SQ_FILE_FEATURE_MANIFEST;
    if (m.tool_train) return SQ_FILE_RUN_JSON;
    if (m.closed && m.another) return SQ_FILE_METRICS;
    if (m.trace) return SQ_FILE_TRACE;
    /* HF's tokenizer.json also opens with "version": only "version" alone reads as SQuAD's. */
    if (m.data_array || (m.version_first && m.members == 1)) return SQ_FILE_SQUAD;
    if (m.step && m.steps_per_epoch) return SQ_FILE_CHECKPOINT_STATE;
    if (m.tokenizer) return SQ_FILE_TOKENIZER_CONFIG;
    if (m.config) return SQ_FILE_MODEL_CONFIG;
    if (m.members && m.strings == m.members) return SQ_FILE_PREDICTIONS;
    if (m.members && m.numbers == m.members) return SQ_FILE_NUMBERS;
    return SQ_FILE_JSON;
}

/* '[' and a JSON value: a vocabulary's first line "[PAD]" is no array. */
static bool json_array(const unsigned char *p, size_t n) {
    if (*p != '[') return false;
    cur c = {p + 1, p + n};
    ws(&c);
    if (c.p == c.end) return true;
    size_t left = (size_t)(c.end - c.p);
    if (*c.p && strchr("{[]\"-0123456789", *c.p)) return true;
    return (left >= 4 && (!memcmp(c.p, "true", 4) || !memcmp(c.p, "null", 4))) ||
           (left >= 5 && !memcmp(c.p, "false", 5));
}

/* ---- text ---- */

/* UTF-8 without control bytes other than \t \n \r \f; a sequence cut by the
 * end of the head is fine unless the head is the whole file. */
static bool is_text(const unsigned char *p, size_t n, bool whole) {
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i];
        if (b < 0x80) {
            if (b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f') return false;
            i++;
            continue;
        }
        size_t k = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
        if (!k || (b >= 0xF0 && k != 4)) return false;
        for (size_t j = 1; j < k; j++) {
            if (i + j == n) return !whole;
            if ((p[i + j] & 0xC0) != 0x80) return false;
        }
        i += k;
    }
    return true;
}

/* BERT vocabularies hold [PAD], [UNK] and [CLS] lines near the top. */
static bool has_special_line(const unsigned char *p, size_t n) {
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]"};
    for (size_t i = 0; i < n;) {
        const unsigned char *nl = memchr(p + i, '\n', n - i);
        size_t len = (nl ? (size_t)(nl - p) : n) - i;
        if (len && p[i + len - 1] == '\r') len--;
        for (int s = 0; s < 3; s++)
            if (len == 5 && !memcmp(p + i, specials[s], 5)) return true;
        if (!nl) break;
        i = (size_t)(nl - p) + 1;
    }
    return false;
}

sq_file_kind sq_file_kind_bytes(const void *head, size_t n, bool whole) {
    const unsigned char *p = head;
    if (n == 0) return whole ? SQ_FILE_EMPTY : SQ_FILE_BINARY;
    if (n >= 8 && !memcmp(p, "SQTOKENS", 8)) return SQ_FILE_TOKENS;
    if (n >= 8 && !memcmp(p, "SQFEATUR", 8))
        /* flags (u32 at offset 12) bit 0: the example table */
        return n >= 16 && (p[12] & 1) ? SQ_FILE_FEATURE_EXAMPLES : SQ_FILE_FEATURE_SHARD;
    if (n >= 8 && p[0] == 'S' && p[1] == 'Q') {
        size_t k = 2;
        while (k < 8 && p[k] >= 'A' && p[k] <= 'Z') k++;
        if (k == 8) return SQ_FILE_SQ_OTHER;
    }
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return SQ_FILE_GZIP;
    if (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) return SQ_FILE_ZSTD;
    if (n >= 4 && !memcmp(p, "PK\x03\x04", 4)) return SQ_FILE_ZIP;
    if (n >= 9 && p[8] == '{') {
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)p[i] << (8 * i);
        if (hlen >= 2 && hlen <= ST_MAX_HEADER) return SQ_FILE_SAFETENSORS;
    }
    size_t skip = n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3) ? 3 : 0; /* a UTF-8 byte order mark */
    cur c = {p + skip, p + n};
    ws(&c);
    if (c.p < c.end && (*c.p == '{' || json_array(c.p, (size_t)(c.end - c.p))))
        return json_kind(c.p, (size_t)(c.end - c.p));
    if (!is_text(p, n, whole)) return SQ_FILE_BINARY;
    return has_special_line(p, n) ? SQ_FILE_VOCAB : SQ_FILE_TEXT;
}

/* ---- folders ---- */

static bool has(const char *dir, const char *name, bool want_dir) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) return false;
    snprintf(p, n, "%s/%s", dir, name);
    struct stat st;
    bool ok = stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode));
    free(p);
    return ok;
}

static sq_file_kind dir_kind(const char *path) {
    /* A checkpoint of a sharded run also holds a manifest.json: state.json first. */
    if (has(path, "state.json", false)) return SQ_FILE_CHECKPOINT_DIR;
    if (has(path, "run.json", false) || has(path, "metrics.jsonl", false) || has(path, "checkpoints", true))
        return SQ_FILE_RUN_DIR;
    if (has(path, "manifest.json", false)) return SQ_FILE_FEATURES_DIR;
    static const char *const hf[] = {"config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors",
                                     "pytorch_model.bin", NULL};
    for (const char *const *f = hf; *f; f++)
        if (has(path, *f, false)) return SQ_FILE_HF_MODEL_DIR;
    return SQ_FILE_DIR;
}

int sq_file_kind_of(const char *path, sq_file_kind *kind) {
    struct stat st;
    if (stat(path, &st)) return sq_err_sys("%s", path);
    if (S_ISDIR(st.st_mode)) {
        *kind = dir_kind(path);
        return 0;
    }
    /* Bytes read from a pipe are gone for the reader that comes next. */
    if (!S_ISREG(st.st_mode)) return sq_err("%s: not a regular file (a pipe cannot be looked at first)", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return sq_err_sys("%s", path);
    unsigned char *buf = sq_malloc(HEAD);
    if (!buf) {
        fclose(fp);
        return -1;
    }
    size_t n = fread(buf, 1, HEAD, fp);
    int err = ferror(fp);
    bool whole = n < HEAD || fgetc(fp) == EOF;
    fclose(fp);
    if (err) {
        free(buf);
        errno = EIO;
        return sq_err_sys("%s: read", path);
    }
    *kind = sq_file_kind_bytes(buf, n, whole);
    free(buf);
    return 0;
}

/* What to do, given what the file is and what was wanted; "" for nothing. */
static void advice(const char *path, sq_file_kind have, uint64_t want, char *out, size_t cap) {
    bool tokens = want & SQ_FILE_BIT(SQ_FILE_TOKENS), features = want & SQ_FILE_BIT(SQ_FILE_FEATURES_DIR),
         weights = want & SQ_FILE_BIT(SQ_FILE_SAFETENSORS);
    const char *a = "";
    switch (have) {
    case SQ_FILE_SQUAD:
        a = tokens ? "run sq-tokenize first" : features ? "run sq-tokenize, then sq-pack" : "";
        break;
    case SQ_FILE_TOKENS: a = features ? "run sq-pack on it first" : ""; break;
    case SQ_FILE_FEATURE_SHARD:
    case SQ_FILE_FEATURE_EXAMPLES:
    case SQ_FILE_FEATURE_MANIFEST: a = features ? "give the folder that holds it" : ""; break;
    case SQ_FILE_GZIP: a = "decompress it first (gunzip)"; break;
    case SQ_FILE_ZSTD: a = "decompress it first (unzstd)"; break;
    case SQ_FILE_ZIP:
        a = weights ? "sq reads safetensors: save the model with save_pretrained(safe_serialization=True)" : "";
        break;
    case SQ_FILE_RUN_DIR:
    case SQ_FILE_CHECKPOINT_DIR:
    case SQ_FILE_HF_MODEL_DIR:
        if (weights) {
            snprintf(out, cap, "its weights are %s/model.safetensors", path);
            return;
        }
        break;
    default: break;
    }
    snprintf(out, cap, "%s", a);
}

int sq_file_expect(const char *path, uint64_t want, const char *who, const char *wanted) {
    struct stat st;
    /* Standard input and pipes (<(zcat dev.json.gz)) are left to the reader: peeking would consume them. */
    if (!strcmp(path, "-") || (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) return 0;
    sq_file_kind k;
    if (sq_file_kind_of(path, &k)) return -1;
    if (want & SQ_FILE_BIT(k)) return 0;
    char todo[512];
    advice(path, k, want, todo, sizeof todo);
    return sq_err("%s is %s; %s wants %s%s%s%s", path, descs[k].what, who, wanted, *todo ? " (" : "", todo,
                  *todo ? ")" : "");
}
