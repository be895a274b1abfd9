#include "answers.h"

#include <string.h>

bool answer_matches(const char *context, size_t context_len, const sq_squad_answer *a) {
    /* Byte equality of valid UTF-8 from a char boundary is code-point
     * equality: find the byte where code point a->start begins. */
    size_t i = 0;
    for (uint32_t cp = 0; cp < a->start; cp++) {
        if (i >= context_len) return false;
        i++;
        while (i < context_len && ((unsigned char)context[i] & 0xC0) == 0x80) i++;
    }
    return context_len - i >= a->len && memcmp(context + i, a->text, a->len) == 0;
}
