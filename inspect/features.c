/* sq-inspect for feature directories (or one shard): a summary, then with
 * --values one line per feature.
 *   {"type":"features", counts, options, vocabulary, hashes}   (a directory, or a shard beside its manifest)
 *   {"type":"shard","file":"shard-00000.sqf","first":0,"features":8192,"bytes":N}   per shard in view
 *   {"type":"feature","index":i,"example":"<question id>","input_ids":[...],
 *    "token_type_ids":[...],"start_position":s,"end_position":e,
 *    "offsets":[null|[start,end],...]}                           (--values)
 * unpadded, in feature order; "example" is null for a shard without its
 * directory.  Every shard is read and checked before the first line, with
 * or without --values.  The feature lines are formatted by hand: the whole
 * train set is ~15 M numbers.  The example table (examples.sqf) prints its
 * count, and with --values each question id. */
#include "inspect.h"
#include "sq/container.h"
#include "sq/error.h"
#include "sq/features.h"
#include "sq/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Appends v in decimal at p; returns the new end. */
static char *put_uint(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Worst case per token: ",[4294967295,4294967295]" and ",65535" and ",1". */
#define PER_TOKEN 48
#define LINE_FIXED 256

static void print_feature(FILE *out, char *buf, uint64_t index, const char *example, const sq_feature *f) {
    char *p = put_str(buf, "{\"type\":\"feature\",\"index\":");
    p = put_uint(p, index);
    p = put_str(p, ",\"example\":");
    fwrite(buf, 1, (size_t)(p - buf), out);
    if (example) emit_string(out, example);
    else fputs("null", out);
    p = put_str(buf, ",\"input_ids\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        p = put_uint(p, f->ids[k]);
    }
    p = put_str(p, "],\"token_type_ids\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        *p++ = k >= f->type1_start ? '1' : '0';
    }
    p = put_str(p, "],\"start_position\":");
    p = put_uint(p, f->start_position);
    p = put_str(p, ",\"end_position\":");
    p = put_uint(p, f->end_position);
    p = put_str(p, ",\"offsets\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        if (f->offsets[2 * k] == SQ_NO_OFFSET && f->offsets[2 * k + 1] == SQ_NO_OFFSET) {
            p = put_str(p, "null");
        } else {
            *p++ = '[';
            p = put_uint(p, f->offsets[2 * k]);
            *p++ = ',';
            p = put_uint(p, f->offsets[2 * k + 1]);
            *p++ = ']';
        }
    }
    p = put_str(p, "]}\n");
    fwrite(buf, 1, (size_t)(p - buf), out);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void print_summary(FILE *out, const sq_features *f) {
    const sq_features_info *in = sq_features_info_get(f);
    /* A lone shard knows only its own counts (no manifest: max_seq 0). */
    if (in->max_seq) {
        char input[65], dataset[65], vocab[65];
        sq_hex(in->input_sha256, 32, input);
        sq_hex(in->dataset_sha256, 32, dataset);
        sq_hex(in->vocab_sha256, 32, vocab);
        fprintf(out,
                "{\"type\":\"features\",\"features\":%llu,\"examples\":%llu,\"paragraphs\":%llu,\"tokens\":%llu,"
                "\"mean_len\":%.1f,\"max_len\":%u,\"max_seq\":%d,\"doc_stride\":%d,\"max_query\":%d,"
                "\"truncated_questions\":%u,\"shard_size\":%u,\"shards\":%u,\"vocab_size\":%u,\"cls_id\":%u,"
                "\"sep_id\":%u,\"pad_id\":%u,\"input_sha256\":\"%s\",\"dataset_sha256\":\"%s\",\"vocab_sha256\":\"%s\"}\n",
                (unsigned long long)in->n_features, (unsigned long long)in->n_examples,
                (unsigned long long)in->n_paragraphs, (unsigned long long)in->n_tokens,
                in->n_features ? (double)in->n_tokens / (double)in->n_features : 0.0, in->max_len, in->max_seq,
                in->doc_stride, in->max_query, in->n_truncated_questions, in->shard_size, in->n_shards,
                in->vocab_size, in->cls_id, in->sep_id, in->pad_id, input, dataset, vocab);
    }
    for (size_t i = 0; i < sq_features_shard_count(f); i++) {
        const char *p;
        uint64_t first, n, bytes;
        sq_features_shard(f, i, &p, &first, &n, &bytes);
        fputs("{\"type\":\"shard\",\"file\":", out);
        emit_string(out, base_name(p));
        fprintf(out, ",\"first\":%llu,\"features\":%llu", (unsigned long long)first, (unsigned long long)n);
        if (bytes) fprintf(out, ",\"bytes\":%llu", (unsigned long long)bytes);
        fputs("}\n", out);
    }
}

int inspect_features(const char *path, FILE *out, bool values) {
    sq_features *f;
    if (sq_features_open(path, &f)) return -1;
    int rc = sq_features_load_all(f);
    size_t n = sq_features_count(f);
    uint64_t base = sq_features_base(f);
    if (!rc) print_summary(out, f);
    char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; !rc && values && i < n; i++) {
        sq_feature x;
        if ((rc = sq_features_get(f, i, &x))) break;
        size_t need = LINE_FIXED + (size_t)x.len * PER_TOKEN;
        if (need > cap) {
            free(buf);
            if (!(buf = sq_malloc(cap = need))) {
                rc = -1;
                break;
            }
        }
        print_feature(out, buf, base + i, sq_features_example_id(f, x.example), &x);
    }
    free(buf);
    sq_features_close(f);
    if (!rc && ferror(out)) rc = sq_err("%s: write error", path);
    return rc;
}

int inspect_examples(const char *path, FILE *out, bool values) {
    sq_creader *r;
    if (sq_creader_open(path, SQ_KIND_FEATURES, &r)) return -1;
    const sq_container_info *ci = sq_creader_info(r);
    uint64_t want = ci->counts[0];
    char *blob = NULL;
    size_t len = 0;
    int rc = 0;
    if (ci->flags != SQ_FEATURES_EXAMPLES || sq_creader_frames(r) != 1)
        rc = sq_err("%s: flags %u, %zu frames: not a feature example table", path, ci->flags, sq_creader_frames(r));
    if (!rc) rc = sq_creader_frame(r, 0, (void **)&blob, &len);
    sq_creader_close(r);
    /* The ids are NUL-terminated back to back: as many as the header counts. */
    if (!rc && len && blob[len - 1]) rc = sq_err("%s: the last question id is not terminated", path);
    uint64_t got = 0;
    for (size_t i = 0; !rc && i < len; i += strlen(blob + i) + 1) got++;
    if (!rc && got != want)
        rc = sq_err("%s: %llu question ids, the header says %llu", path, (unsigned long long)got,
                    (unsigned long long)want);
    if (!rc) {
        fprintf(out, "{\"type\":\"examples\",\"examples\":%llu}\n", (unsigned long long)want);
        uint64_t k = 0;
        for (size_t i = 0; values && i < len; i += strlen(blob + i) + 1, k++) {
            fprintf(out, "{\"type\":\"example\",\"index\":%llu,\"id\":", (unsigned long long)k);
            emit_string(out, blob + i);
            fputs("}\n", out);
        }
    }
    free(blob);
    if (!rc && ferror(out)) rc = sq_err("%s: write error", path);
    return rc;
}
