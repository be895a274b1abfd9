#include "storable.h"
#include "sq/error.h"

#include <stdlib.h>
#include <string.h>

int storable_text(const char *s, size_t len, char **copy) {
    *copy = NULL;
    size_t nuls = 0;
    for (const char *p = s; (p = memchr(p, 0, len - (size_t)(p - s))); p++) nuls++;
    if (!nuls) return 0;
    /* U+FFFD is 3 bytes for the 1 of a NUL. */
    char *out = sq_malloc(len + 2 * nuls + 1), *o = out;
    if (!out) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i]) {
            *o++ = s[i];
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
        }
    }
    *o = 0;
    *copy = out;
    return 0;
}
