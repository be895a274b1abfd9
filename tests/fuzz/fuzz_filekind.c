/* libFuzzer target: sq_file_kind_bytes on arbitrary bytes, as the whole file
 * and as the head of a longer one.  Every tool runs it on its inputs before
 * anything else, so it must never read past the bytes it is given (ASan
 * checks) and always answer a kind that has a description. */
#include "sq/filekind.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that any read past the end is caught. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    for (int whole = 0; whole < 2; whole++) {
        sq_file_kind k = sq_file_kind_bytes(buf, size, whole);
        if ((unsigned)k >= SQ_FILE_KIND_COUNT || !sq_file_describe(k)->what) abort();
    }
    free(buf);
    return 0;
}
