/* One text through the whole bert-base tokenizer as HuggingFace tokenizers
 * runs it (special tokens matched in the raw text, BertNormalizer,
 * BertPreTokenizer, WordPiece): token ids and the [start, end) code-point
 * offsets of each token in the original text.  An encoder is scratch space
 * for one thread; it owns its output arrays, valid until the next call. */
#ifndef SQ_TOKENIZE_ENCODE_H
#define SQ_TOKENIZE_ENCODE_H

#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const vocab *v;
    bool cased;
    uint8_t aclass[128], achar[128]; /* class and normalized char of each ASCII byte */
    /* output */
    uint32_t *ids, *offsets; /* n and 2n */
    size_t n, cap;
    /* the word being collected: UTF-8 bytes, byte start and original code
     * point of each char */
    char *wbytes;
    uint32_t *wstart, *worig, *pids, *pends;
    size_t wn, wlen, wcap, bcap;
    uint32_t cps;          /* code points in the last text */
} encoder;

void encoder_init(encoder *e, const vocab *v, bool cased);
void encoder_free(encoder *e);
/* Tokenizes s[0..len) (UTF-8; an invalid byte counts as one code point and
 * is dropped like U+FFFD) into e->ids / e->offsets / e->n. */
int encode_text(encoder *e, const char *s, size_t len);

#endif
