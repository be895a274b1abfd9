/* Texts as a tokens file stores them.  Its strings are NUL-terminated, so a
 * U+0000 inside a SQuAD string (JSON's \u0000, which HF tokenizes: BERT's
 * normalizer drops it) cannot be kept as is; it is stored as U+FFFD.  One
 * code point stands for one, so context_cps, every token offset and every
 * answer_start keep their meaning, and the normalizer drops U+FFFD too
 * (clean_text), so the stored text tokenizes to the same ids and offsets. */
#ifndef SQ_TOKENIZE_STORABLE_H
#define SQ_TOKENIZE_STORABLE_H

#include <stddef.h>

/* 0 with *copy NULL when s[0..len) holds no NUL byte (s can be stored as
 * is); 0 with *copy a malloc'd, NUL-terminated copy with each NUL replaced
 * by U+FFFD; -1 on allocation failure (error set). */
int storable_text(const char *s, size_t len, char **copy);

#endif
