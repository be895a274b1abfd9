#include "reuse.h"
#include "sq/error.h"
#include "sq/features.h"
#include "sq/hash.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_empty_dir(const char *path, bool *empty) {
    DIR *d = opendir(path);
    if (!d) return sq_err_sys("%s", path);
    struct dirent *e;
    *empty = true;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            *empty = false;
            break;
        }
    closedir(d);
    return 0;
}

int pack_reuse_check(const char *outdir, const pack_config *c, const pack_input *in, char *why, size_t why_len,
                     pack_reuse *out) {
    struct stat st;
    *why = 0;
    if (stat(outdir, &st)) {
        if (errno != ENOENT) return sq_err_sys("%s", outdir);
        *out = PACK_BUILD;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return sq_err("%s: exists and is not a directory; refusing to replace it", outdir);
    size_t n = strlen(outdir) + sizeof "/" PACK_MANIFEST;
    char *m = sq_malloc(n);
    if (!m) return -1;
    snprintf(m, n, "%s/" PACK_MANIFEST, outdir);
    int has_manifest = stat(m, &st) == 0;
    free(m);
    if (!has_manifest) {
        bool empty = false;
        if (is_empty_dir(outdir, &empty)) return -1;
        if (!empty)
            return sq_err("%s: exists and is not a feature directory (no " PACK_MANIFEST "); refusing to replace it",
                          outdir);
        *out = PACK_BUILD;
        return 0;
    }
    sq_features *f;
    if (sq_features_open(outdir, &f)) {
        snprintf(why, why_len, "%s", sq_errmsg());
        *out = PACK_DAMAGED;
        return 0;
    }
    const sq_features_info *i = sq_features_info_get(f);
    const pack_options *o = &c->window;
    char a[65], b[65];
    *out = PACK_DIFFERENT;
    if ((uint32_t)i->max_seq != o->max_seq)
        snprintf(why, why_len, "--max-seq %d (this run: %u)", i->max_seq, o->max_seq);
    else if ((uint32_t)i->doc_stride != o->stride)
        snprintf(why, why_len, "--doc-stride %d (this run: %u)", i->doc_stride, o->stride);
    else if ((uint32_t)i->max_query != o->max_query)
        snprintf(why, why_len, "--max-query %d (this run: %u)", i->max_query, o->max_query);
    else if (i->shard_size != c->shard_size)
        snprintf(why, why_len, "--shard-size %u (this run: %u)", i->shard_size, c->shard_size);
    else if (memcmp(i->input_sha256, in->sha256, 32) != 0) {
        sq_hex(i->input_sha256, 32, a);
        sq_hex(in->sha256, 32, b);
        snprintf(why, why_len, "another input (sha256 %.16s..., this run's %.16s...)", a, b);
    } else if (sq_features_verify(f)) {
        snprintf(why, why_len, "%s", sq_errmsg());
        *out = PACK_DAMAGED;
    } else {
        *out = PACK_UP_TO_DATE;
    }
    sq_features_close(f);
    return 0;
}
