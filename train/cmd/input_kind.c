#include "cmd/input_kind.h"

#include "sq/container.h"
#include "sq/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef enum {
    K_UNKNOWN, /* missing, unreadable, or nothing recognised */
    K_TOKENS,
    K_SHARD,
    K_FEATDIR,
    K_SAFETENSORS,
    K_CONFIG_JSON,
    K_SQUAD_JSON,
    K_JSON,
    K_VOCAB,
    K_RUNDIR,
    K_CKPTDIR,
    K_MODELDIR,
    K_DIR,
} kind;

static const char *what[] = {
    [K_TOKENS] = "a tokens file from sq-tokenize",
    [K_SHARD] = "a feature shard from sq-pack",
    [K_FEATDIR] = "a feature folder from sq-pack",
    [K_SAFETENSORS] = "a safetensors file (weights, or logits from sq-train predict)",
    [K_CONFIG_JSON] = "a model config (JSON)",
    [K_SQUAD_JSON] = "a SQuAD dataset (JSON)",
    [K_JSON] = "a JSON file",
    [K_VOCAB] = "a vocabulary (vocab.txt, read by sq-tokenize)",
    [K_RUNDIR] = "a run folder from sq-train",
    [K_CKPTDIR] = "a checkpoint folder from sq-train",
    [K_MODELDIR] = "a model folder",
    [K_DIR] = "a folder",
};

static const char *wants[] = {
    [SQ_WANT_FEATURES] = "a feature folder from sq-pack",
    [SQ_WANT_WEIGHTS] = "model weights (.safetensors)",
    [SQ_WANT_CONFIG] = "an HF config.json",
    [SQ_WANT_DATASET] = "the SQuAD JSON the dev features were made from",
};

static bool has(const char *dir, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return !stat(p, &st);
}

static bool json_start(const unsigned char *b, size_t n) {
    size_t i = n >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3) ? 3 : 0; /* a UTF-8 byte-order mark */
    while (i < n && strchr(" \t\r\n", b[i])) i++;
    if (i == n || (b[i] != '{' && b[i] != '[')) return false;
    /* "[PAD]" opens a BERT vocabulary, not a JSON array. */
    for (i++; i < n && strchr(" \t\r\n", b[i]); i++) {}
    return i == n || strchr("{[]}\"-0123456789tfn", b[i]);
}

static bool contains(const unsigned char *b, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(b + i, s, k)) return true;
    return false;
}

static kind kind_of(const char *path) {
    struct stat st;
    if (stat(path, &st)) return K_UNKNOWN;
    if (S_ISDIR(st.st_mode)) {
        if (has(path, "run.json")) return K_RUNDIR;
        if (has(path, "state.json")) return K_CKPTDIR;
        if (has(path, "manifest.json")) return K_FEATDIR;
        if (has(path, "config.json") && has(path, "model.safetensors")) return K_MODELDIR;
        return K_DIR;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return K_UNKNOWN;
    unsigned char b[4096];
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    if (n >= 8 && !memcmp(b, SQ_KIND_TOKENS, 8)) return K_TOKENS;
    if (n >= 8 && !memcmp(b, SQ_KIND_FEATURES, 8)) return K_SHARD;
    if (n >= 9) {
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = h << 8 | b[i];
        if (b[8] == '{' && h >= 2 && h <= (uint64_t)st.st_size - 8) return K_SAFETENSORS;
    }
    if (json_start(b, n)) {
        if (contains(b, n, "\"hidden_size\"") || contains(b, n, "\"model_type\"")) return K_CONFIG_JSON;
        if (contains(b, n, "\"paragraphs\"")) return K_SQUAD_JSON;
        return K_JSON;
    }
    if (n >= 6 && b[0] == '[' && memchr(b, ']', n < 32 ? n : 32) && contains(b, n < 64 ? n : 64, "]\n")) return K_VOCAB;
    return K_UNKNOWN;
}

static bool fits(kind k, sq_want w) {
    switch (w) {
    case SQ_WANT_FEATURES: return k == K_UNKNOWN || k == K_SHARD || k == K_FEATDIR || k == K_DIR;
    /* Folders are --init's loader's to judge (an HF model folder is one). */
    case SQ_WANT_WEIGHTS: return k == K_UNKNOWN || k == K_SAFETENSORS || k >= K_RUNDIR;
    case SQ_WANT_CONFIG: return k == K_UNKNOWN || k == K_CONFIG_JSON || k == K_JSON;
    case SQ_WANT_DATASET: return k == K_UNKNOWN || k == K_SQUAD_JSON || k == K_JSON;
    }
    return true;
}

int sq_check_input(const char *opt, const char *path, sq_want want) {
    kind k = kind_of(path);
    if (fits(k, want)) return 0;
    /* The usual mix-ups get the option that takes the file. */
    const char *hint = "";
    if (want == SQ_WANT_WEIGHTS && k == K_CONFIG_JSON) hint = " (a config goes to --config)";
    if (want == SQ_WANT_CONFIG && k == K_SAFETENSORS) hint = " (weights go to --init)";
    if (want == SQ_WANT_FEATURES && (k == K_TOKENS || k == K_SQUAD_JSON)) hint = " (sq-pack makes one from a tokens file)";
    return sq_err("%s is %s; %s wants %s%s", path, what[k], opt, wants[want], hint);
}
