/* Reading feature directories (layout in sq/features.h and docs/formats.md).
 *
 * Open reads manifest.json and examples.sqf.  A shard is read, verified
 * (container CRCs, then the manifest's sha256, then the layout of every
 * record) and expanded on first use: records get their token position, ids
 * are copied out, and the delta-coded context offsets become the 2 * len
 * array sq_feature promises.  The result is published through an atomic
 * pointer, so sq_features_get takes no lock once a shard is in memory; a
 * per-shard mutex makes concurrent first uses load it once. */
#include "sq/features.h"
#include "sq/atomic_file.h"
#include "sq/container.h"
#include "sq/error.h"
#include "sq/hash.h"
#include "sq/json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "feature ids are copied out of the shards as little-endian u16 arrays"
#endif

#define MANIFEST "manifest.json"
/* Far above any real shard (8192 features of 384 tokens are ~30 MB). */
#define MAX_FILE ((size_t)1 << 36)

typedef struct {
    uint32_t example, tok; /* tok: its first token in the shard's arrays */
    uint16_t len, type1, sp, ep;
} rec;

typedef struct {
    rec *recs;
    uint16_t *ids;
    uint32_t *offsets;
} shard_data;

typedef struct {
    char *path;
    uint64_t first, n, bytes;
    uint8_t sha256[32];
    bool has_manifest; /* bytes and sha256 known */
    pthread_mutex_t mu;
    shard_data *_Atomic data;
} shard;

struct sq_features {
    sq_features_info info;
    shard *shards;
    size_t n_shards;
    size_t only;       /* with a lone shard of a directory: its index, else SIZE_MAX */
    uint64_t base, count;
    char *ex_blob;     /* examples.sqf's frame */
    const char **ex;   /* n_examples pointers into ex_blob */
    uint64_t n_ex;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One offset number: a byte below 255, or 255 and a u32. */
static int get_small(const uint8_t **p, const uint8_t *end, uint32_t *v) {
    if (*p == end) return -1;
    if (**p < 255) {
        *v = *(*p)++;
        return 0;
    }
    if (end - *p < 5) return -1;
    *v = get32(*p + 1);
    *p += 5;
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = sq_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- manifest ---- */

/* "manifest.json: counts.features: missing or not a non-negative integer" */
static int get_u64(const char *mpath, json_t *obj, const char *group, const char *key, uint64_t max,
                   uint64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return sq_err("%s: %s%s%s: missing, or not an integer in [0, %llu]", mpath, group, *group ? "." : "", key,
                      (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_u32(const char *mpath, json_t *obj, const char *group, const char *key, uint32_t max,
                   uint32_t *out) {
    uint64_t v;
    if (get_u64(mpath, obj, group, key, max, &v)) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int get_sha(const char *mpath, json_t *obj, const char *group, uint8_t out[32]) {
    const char *s = json_string_value(json_object_get(obj, "sha256"));
    if (!s || strlen(s) != 64) goto bad;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) goto bad;
        out[i] = (uint8_t)v;
    }
    return 0;
bad:
    return sq_err("%s: %s.sha256: missing, or not 64 hex digits", mpath, group);
}

/* A file named in the manifest must sit in the directory itself. */
static const char *get_name(const char *mpath, json_t *obj, const char *group) {
    const char *s = json_string_value(json_object_get(obj, "file"));
    if (!s || !*s || *s == '.' || strchr(s, '/')) {
        sq_err("%s: %s.file: missing, or not a plain file name", mpath, group);
        return NULL;
    }
    return s;
}

/* Reads a file named in the manifest (or a lone shard, check false) and
 * returns its info and its one frame.  The container's checks come first,
 * since they name the damaged offset; then the manifest's size and sha256,
 * which catch a whole file replaced by another valid one. */
static int read_listed(const char *path, bool check, uint64_t bytes, const uint8_t sha[32], uint32_t flags,
                       sq_container_info *info, void **frame, size_t *frame_len) {
    char *buf;
    size_t len;
    sq_creader *r = NULL;
    *frame = NULL;
    if (sq_read_file(path, MAX_FILE, &buf, &len)) return -1;
    int rc = sq_creader_openb(path, buf, len, SQ_KIND_FEATURES, &r);
    if (!rc) {
        *info = *sq_creader_info(r);
        if (info->version != SQ_FEATURES_VERSION || info->flags != flags || sq_creader_frames(r) != 1)
            rc = sq_err("%s: version %u, flags %u, %zu frames: not a version %d feature %s", path, info->version,
                        info->flags, sq_creader_frames(r), SQ_FEATURES_VERSION,
                        flags ? "example table" : "shard");
    }
    if (!rc) rc = sq_creader_frame(r, 0, frame, frame_len);
    uint8_t got[32];
    if (!rc && check && len != bytes)
        rc = sq_err("%s: %zu bytes, but manifest.json says %llu (damaged or replaced)", path, len,
                    (unsigned long long)bytes);
    else if (!rc && check && (sq_sha256(buf, len, got) || memcmp(got, sha, 32) != 0))
        rc = sq_err("%s: sha256 does not match manifest.json (replaced by another file?)", path);
    if (rc) {
        free(*frame);
        *frame = NULL;
    }
    sq_creader_close(r);
    free(buf);
    return rc;
}

static int load_examples(sq_features *f, const char *dir, const char *mpath, json_t *m) {
    json_t *e = json_object_get(m, "examples");
    const char *name = get_name(mpath, e, "examples");
    uint64_t bytes;
    uint8_t sha[32];
    if (!name || get_u64(mpath, e, "examples", "bytes", UINT64_MAX, &bytes) || get_sha(mpath, e, "examples", sha))
        return -1;
    char *path = join(dir, name);
    if (!path) return -1;
    sq_container_info ci;
    void *blob = NULL;
    size_t len;
    int rc = read_listed(path, true, bytes, sha, SQ_FEATURES_EXAMPLES, &ci, &blob, &len);
    if (!rc && ci.counts[0] != f->n_ex)
        rc = sq_err("%s: holds %llu examples, manifest.json says %llu", path, (unsigned long long)ci.counts[0],
                    (unsigned long long)f->n_ex);
    if (!rc && (len == 0) != (f->n_ex == 0)) rc = sq_err("%s: example table size does not match its count", path);
    if (!rc && len && ((char *)blob)[len - 1] != 0) rc = sq_err("%s: the last question id is not terminated", path);
    if (!rc && f->n_ex) {
        f->ex = sq_calloc(f->n_ex, sizeof *f->ex);
        if (!f->ex) rc = -1;
    }
    uint64_t k = 0;
    for (size_t i = 0; !rc && i < len; k++) {
        if (k == f->n_ex) {
            rc = sq_err("%s: more question ids than the %llu examples", path, (unsigned long long)f->n_ex);
            break;
        }
        f->ex[k] = (char *)blob + i;
        i += strlen((char *)blob + i) + 1;
    }
    if (!rc && k != f->n_ex)
        rc = sq_err("%s: %llu question ids for %llu examples", path, (unsigned long long)k,
                    (unsigned long long)f->n_ex);
    f->ex_blob = blob;
    free(path);
    return rc;
}

static int parse_manifest(sq_features *f, const char *dir) {
    char *mpath = join(dir, MANIFEST);
    if (!mpath) return -1;
    int rc = -1;
    json_t *m = sq_json_load(mpath);
    if (!m) goto out;
    sq_features_info *in = &f->info;
    const char *fmt = json_string_value(json_object_get(m, "format"));
    json_t *ver = json_object_get(m, "version");
    if (!fmt || strcmp(fmt, "sq-features") != 0) {
        sq_err("%s: not a feature manifest (format is not \"sq-features\")", mpath);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != SQ_FEATURES_VERSION) {
        sq_err("%s: feature format version %lld; this sq reads version %d", mpath,
               json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL, SQ_FEATURES_VERSION);
        goto out;
    }
    json_t *o = json_object_get(m, "options"), *c = json_object_get(m, "counts"), *v = json_object_get(m, "vocab");
    uint32_t u;
    if (get_u32(mpath, o, "options", "max_seq", UINT16_MAX, &u)) goto out;
    in->max_seq = (int)u;
    if (get_u32(mpath, o, "options", "doc_stride", UINT16_MAX, &u)) goto out;
    in->doc_stride = (int)u;
    if (get_u32(mpath, o, "options", "max_query", UINT16_MAX, &u)) goto out;
    in->max_query = (int)u;
    if (get_u32(mpath, o, "options", "shard_size", UINT32_MAX, &in->shard_size)) goto out;
    if (get_u64(mpath, c, "counts", "features", UINT64_MAX, &in->n_features) ||
        get_u64(mpath, c, "counts", "tokens", UINT64_MAX, &in->n_tokens) ||
        get_u64(mpath, c, "counts", "examples", UINT32_MAX, &in->n_examples) ||
        get_u64(mpath, c, "counts", "paragraphs", UINT32_MAX, &in->n_paragraphs) ||
        get_u32(mpath, c, "counts", "truncated_questions", UINT32_MAX, &in->n_truncated_questions) ||
        get_u32(mpath, c, "counts", "max_len", (uint32_t)in->max_seq, &in->max_len) ||
        get_u32(mpath, v, "vocab", "size", 1u << 16, &in->vocab_size) ||
        get_u32(mpath, v, "vocab", "cls_id", UINT16_MAX, &in->cls_id) ||
        get_u32(mpath, v, "vocab", "sep_id", UINT16_MAX, &in->sep_id) ||
        get_u32(mpath, v, "vocab", "pad_id", UINT16_MAX, &in->pad_id) ||
        get_sha(mpath, v, "vocab", in->vocab_sha256) ||
        get_sha(mpath, json_object_get(m, "input"), "input", in->input_sha256) ||
        get_sha(mpath, json_object_get(m, "dataset"), "dataset", in->dataset_sha256))
        goto out;
    if (in->shard_size == 0) {
        sq_err("%s: options.shard_size is 0", mpath);
        goto out;
    }
    json_t *sh = json_object_get(m, "shards");
    size_t n = json_array_size(sh);
    uint64_t want = in->n_features / in->shard_size + (in->n_features % in->shard_size != 0);
    if (!json_is_array(sh) || n != want) {
        sq_err("%s: shards: %zu listed, but %llu features in shards of %u need %llu", mpath, n,
               (unsigned long long)in->n_features, in->shard_size, (unsigned long long)want);
        goto out;
    }
    in->n_shards = (uint32_t)n;
    f->n_ex = in->n_examples;
    if (n) {
        f->shards = sq_calloc(n, sizeof *f->shards);
        if (!f->shards) goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(sh, i);
        shard *d = &f->shards[i];
        pthread_mutex_init(&d->mu, NULL);
        f->n_shards = i + 1;
        char group[32];
        snprintf(group, sizeof group, "shards[%zu]", i);
        const char *name = get_name(mpath, s, group);
        if (!name || get_u64(mpath, s, group, "features", in->shard_size, &d->n) ||
            get_u64(mpath, s, group, "bytes", UINT64_MAX, &d->bytes) || get_sha(mpath, s, group, d->sha256))
            goto out;
        d->first = (uint64_t)i * in->shard_size;
        uint64_t expect = i + 1 < n ? in->shard_size : in->n_features - d->first;
        if (d->n != expect) {
            sq_err("%s: %s.features is %llu, expected %llu", mpath, group, (unsigned long long)d->n,
                   (unsigned long long)expect);
            goto out;
        }
        d->has_manifest = true;
        if (!(d->path = join(dir, name))) goto out;
    }
    f->count = in->n_features;
    rc = load_examples(f, dir, mpath, m);
out:
    json_decref(m);
    free(mpath);
    return rc;
}

/* ---- opening ---- */

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A lone shard: what its header says, nothing more. */
static int open_lone(sq_features *f, const char *path) {
    sq_creader *r;
    if (sq_creader_open(path, SQ_KIND_FEATURES, &r)) return -1;
    const sq_container_info *ci = sq_creader_info(r);
    int rc = 0;
    if (ci->flags != 0) rc = sq_err("%s: an example table, not a feature shard", path);
    else if (ci->counts[0] > UINT32_MAX || ci->counts[1] > UINT64_MAX - ci->counts[0])
        rc = sq_err("%s: header: impossible feature counts", path);
    uint64_t n = ci->counts[0], first = ci->counts[1];
    sq_creader_close(r);
    if (rc) return -1;
    f->shards = sq_calloc(1, sizeof *f->shards);
    if (!f->shards) return -1;
    f->n_shards = 1;
    pthread_mutex_init(&f->shards[0].mu, NULL);
    f->shards[0].n = n;
    f->shards[0].first = first;
    if (!(f->shards[0].path = sq_strdup(path))) return -1;
    f->base = first;
    f->count = n;
    f->info.n_features = n;
    f->info.n_shards = 1;
    f->info.shard_size = (uint32_t)n;
    return 0;
}

int sq_features_open(const char *path, sq_features **out) {
    sq_features *f = sq_calloc(1, sizeof *f);
    if (!f) return -1;
    f->only = SIZE_MAX;
    int rc;
    if (is_dir(path)) {
        rc = parse_manifest(f, path);
    } else {
        /* One shard: use the directory's manifest when it lists this file. */
        char *dir = sq_strdup(path);
        if (!dir) {
            free(f);
            return -1;
        }
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : path;
        if (slash) *slash = 0;
        const char *d = slash ? (*dir ? dir : "/") : ".";
        char *m = join(d, MANIFEST);
        struct stat st;
        rc = -1;
        if (m && stat(m, &st) == 0) {
            rc = parse_manifest(f, d);
            for (size_t i = 0; !rc && i < f->n_shards; i++) {
                const char *p = strrchr(f->shards[i].path, '/');
                if (strcmp(p ? p + 1 : f->shards[i].path, base) == 0) f->only = i;
            }
            if (!rc && f->only == SIZE_MAX) rc = sq_err("%s: not listed in %s", path, m);
            if (!rc) {
                f->base = f->shards[f->only].first;
                f->count = f->shards[f->only].n;
            }
        } else if (m) {
            rc = open_lone(f, path);
        }
        free(m);
        free(dir);
    }
    if (rc) {
        sq_features_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

/* ---- shards ---- */

static void free_data(shard_data *d) {
    if (!d) return;
    free(d->recs);
    free(d->ids);
    free(d->offsets);
    free(d);
}

/* Checks the frame's layout against the shard's counts and the manifest and
 * expands it; every error names the shard and the feature. */
static int decode(const sq_features *f, const shard *s, const sq_container_info *ci, const uint8_t *blob,
                  size_t len, shard_data **out) {
    const char *p = s->path;
    uint64_t n = ci->counts[0], tokens = ci->counts[2], ctx = ci->counts[3];
    if (n != s->n || ci->counts[1] != s->first)
        return sq_err("%s: holds features [%llu, +%llu), manifest.json says [%llu, +%llu)", p,
                      (unsigned long long)ci->counts[1], (unsigned long long)n, (unsigned long long)s->first,
                      (unsigned long long)s->n);
    if (tokens > UINT32_MAX || ctx > tokens || n > tokens ||
        len < n * SQ_FEATURES_RECORD_SIZE + 2 * tokens + 2 * ctx ||
        len > n * SQ_FEATURES_RECORD_SIZE + 2 * tokens + 10 * ctx)
        return sq_err("%s: frame of %zu bytes does not hold %llu features of %llu tokens (%llu in contexts)", p, len,
                      (unsigned long long)n, (unsigned long long)tokens, (unsigned long long)ctx);
    shard_data *d = sq_calloc(1, sizeof *d);
    if (!d) return -1;
    d->recs = sq_malloc(n ? n * sizeof *d->recs : 1);
    d->ids = sq_malloc(tokens ? 2 * tokens : 1);
    d->offsets = sq_malloc(tokens ? 8 * tokens : 1);
    if (!d->recs || !d->ids || !d->offsets) goto fail;
    if (tokens) memcpy(d->ids, blob + n * SQ_FEATURES_RECORD_SIZE, 2 * tokens);
    const uint8_t *po = blob + n * SQ_FEATURES_RECORD_SIZE + 2 * tokens, *po_end = blob + len;
    const sq_features_info *in = &f->info;
    uint64_t tok = 0, c = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *r = blob + i * SQ_FEATURES_RECORD_SIZE;
        rec *e = &d->recs[i];
        e->example = get32(r);
        e->len = get16(r + 4);
        e->type1 = get16(r + 6);
        e->sp = get16(r + 8);
        e->ep = get16(r + 10);
        e->tok = (uint32_t)tok;
        unsigned long long g = (unsigned long long)(s->first + i);
        /* [CLS] question [SEP] context [SEP]: at least 3 tokens, type 1 from
         * after the first [SEP] through the last token. */
        if (e->len < 3 || e->type1 < 2 || e->type1 > e->len - 1 || e->sp >= e->len || e->ep >= e->len ||
            (in->max_seq && e->len > in->max_seq)) {
            sq_err("%s: feature %llu: impossible layout (length %u, context from %u, labels %u/%u)", p, g, e->len,
                   e->type1, e->sp, e->ep);
            goto fail;
        }
        if (f->n_ex && e->example >= f->n_ex) {
            sq_err("%s: feature %llu: example %u, but there are %llu", p, g, e->example, (unsigned long long)f->n_ex);
            goto fail;
        }
        uint32_t nc = e->len - e->type1 - 1u;
        if (tok + e->len > tokens || c + nc > ctx) goto fail_size;
        const uint16_t *ids = d->ids + tok;
        if (in->vocab_size) {
            if (ids[0] != in->cls_id || ids[e->type1 - 1] != in->sep_id || ids[e->len - 1] != in->sep_id) {
                sq_err("%s: feature %llu: [CLS] and [SEP] are not where the layout puts them", p, g);
                goto fail;
            }
            for (uint32_t k = 0; k < e->len; k++)
                if (ids[k] >= in->vocab_size) {
                    sq_err("%s: feature %llu: token id %u is outside the vocabulary (%u)", p, g, ids[k],
                           in->vocab_size);
                    goto fail;
                }
        }
        uint32_t *o = d->offsets + 2 * tok;
        for (uint32_t k = 0; k < e->type1; k++) o[2 * k] = o[2 * k + 1] = SQ_NO_OFFSET;
        uint32_t prev = 0;
        for (uint32_t k = 0; k < nc; k++, c++) {
            uint32_t gap, length;
            if (get_small(&po, po_end, &gap) || get_small(&po, po_end, &length)) goto fail_size;
            uint32_t start = prev + gap, end = start + length;
            o[2 * (e->type1 + k)] = start;
            o[2 * (e->type1 + k) + 1] = end;
            prev = end;
        }
        o[2 * (e->len - 1)] = o[2 * (e->len - 1) + 1] = SQ_NO_OFFSET;
        tok += e->len;
    }
    if (tok != tokens || c != ctx || po != po_end) goto fail_size;
    *out = d;
    return 0;
fail_size:
    sq_err("%s: feature lengths and offsets do not add up to the %llu tokens the header gives", p,
           (unsigned long long)tokens);
fail:
    free_data(d);
    return -1;
}

static int load(const sq_features *f, shard *s, shard_data **out) {
    sq_container_info ci;
    void *blob;
    size_t len;
    int rc = read_listed(s->path, s->has_manifest, s->bytes, s->sha256, 0, &ci, &blob, &len);
    if (!rc) rc = decode(f, s, &ci, blob, len, out);
    free(blob);
    return rc;
}

static shard_data *get_shard(sq_features *f, size_t i) {
    shard *s = &f->shards[i];
    shard_data *d = atomic_load_explicit(&s->data, memory_order_acquire);
    if (d) return d;
    pthread_mutex_lock(&s->mu);
    d = atomic_load_explicit(&s->data, memory_order_relaxed);
    if (!d && load(f, s, &d) == 0) atomic_store_explicit(&s->data, d, memory_order_release);
    pthread_mutex_unlock(&s->mu);
    return d;
}

int sq_features_get(sq_features *f, size_t index, sq_feature *out) {
    if (index >= f->count)
        return sq_err("feature %zu does not exist (%llu features)", index, (unsigned long long)f->count);
    uint64_t g = f->base + index;
    size_t si = f->only != SIZE_MAX ? f->only : f->n_shards == 1 ? 0 : (size_t)(g / f->info.shard_size);
    shard_data *d = get_shard(f, si);
    if (!d) return -1;
    const rec *e = &d->recs[g - f->shards[si].first];
    out->example = e->example;
    out->len = e->len;
    out->type1_start = e->type1;
    out->start_position = e->sp;
    out->end_position = e->ep;
    out->ids = d->ids + e->tok;
    out->offsets = d->offsets + 2 * (size_t)e->tok;
    return 0;
}

int sq_features_load_all(sq_features *f) {
    for (size_t i = 0; i < f->n_shards; i++)
        if ((f->only == SIZE_MAX || f->only == i) && !get_shard(f, i)) return -1;
    return 0;
}

int sq_features_verify(const sq_features *f) {
    for (size_t i = 0; i < f->n_shards; i++) {
        const shard *s = &f->shards[i];
        if (!s->has_manifest) continue;
        char *buf;
        size_t len;
        uint8_t got[32];
        if (sq_read_file(s->path, MAX_FILE, &buf, &len)) return -1;
        int rc = 0;
        if (len != s->bytes || sq_sha256(buf, len, got) || memcmp(got, s->sha256, 32) != 0)
            rc = sq_err("%s: size or sha256 does not match manifest.json", s->path);
        free(buf);
        if (rc) return -1;
    }
    return 0;
}

const sq_features_info *sq_features_info_get(const sq_features *f) { return &f->info; }
size_t sq_features_count(const sq_features *f) { return (size_t)f->count; }
uint64_t sq_features_base(const sq_features *f) { return f->base; }

size_t sq_features_shard_count(const sq_features *f) { return f->only != SIZE_MAX ? 1 : f->n_shards; }

void sq_features_shard(const sq_features *f, size_t i, const char **path, uint64_t *first, uint64_t *count,
                       uint64_t *bytes) {
    const shard *s = &f->shards[f->only != SIZE_MAX ? f->only : i];
    *path = s->path;
    *first = s->first;
    *count = s->n;
    *bytes = s->has_manifest ? s->bytes : 0;
}

const char *sq_features_example_id(const sq_features *f, uint32_t example) {
    return f->ex && example < f->n_ex ? f->ex[example] : NULL;
}

void sq_features_close(sq_features *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_shards; i++) {
        free_data(atomic_load(&f->shards[i].data));
        free(f->shards[i].path);
        pthread_mutex_destroy(&f->shards[i].mu);
    }
    free(f->shards);
    free(f->ex);
    free(f->ex_blob);
    free(f);
}
