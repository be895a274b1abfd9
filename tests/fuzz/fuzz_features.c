/* libFuzzer target: the feature shard reader (shared/src/features.c) on
 * arbitrary input, opened as a lone shard (no manifest beside it), every
 * feature read, aborting where a promise of sq/features.h is broken.
 *
 * The first byte picks how the rest is read, as in fuzz_tokens:
 *   even: a whole shard file (if bit 1 is set, its CRC32s are recomputed);
 *   odd:  the decompressed content wrapped into a valid container (wrap.h),
 *         which reaches the record, id and offset decoding.
 * The reader takes a path, so each input goes through a file in a private
 * temporary directory.  Seeds: tests/fuzz/seeds/features/. */
#include "sq/features.h"
#include "wrap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/sq-fuzz-features-XXXXXX";
static char path[64];

static void remove_dir(void) { rmdir(dir); }

static void check(sq_features *f) {
    if (sq_features_load_all(f)) return;
    for (size_t i = 0; i < sq_features_count(f); i++) {
        sq_feature x;
        if (sq_features_get(f, i, &x)) abort();
        if (x.len < 3 || x.type1_start < 2 || x.type1_start >= x.len || x.start_position >= x.len ||
            x.end_position >= x.len)
            abort();
        volatile uint32_t sum = 0;
        for (uint32_t k = 0; k < x.len; k++) {
            sum += x.ids[k];
            int context = k >= x.type1_start && k + 1 < x.len;
            if (!context && (x.offsets[2 * k] != SQ_NO_OFFSET || x.offsets[2 * k + 1] != SQ_NO_OFFSET)) abort();
        }
        (void)sum;
        volatile const char *id = sq_features_example_id(f, x.example);
        (void)id;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (!path[0]) {
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
        snprintf(path, sizeof path, "%s/shard-00000.sqf", dir);
    }
    size_t len;
    uint8_t *buf = fuzz_input("SQFEATUR", SQ_FEATURES_VERSION, data, size, &len);
    if (!buf) return 0;
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    fwrite(buf, 1, len, fp);
    fclose(fp);
    free(buf);
    sq_features *f;
    if (sq_features_open(path, &f) == 0) {
        check(f);
        sq_features_close(f);
    }
    unlink(path);
    return 0;
}
