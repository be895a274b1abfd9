/* What HuggingFace's BertNormalizer (clean_text, handle_chinese_chars,
 * strip_accents, lowercase) and BertPreTokenizer make of one code point.
 * Every step of BertNormalizer works char by char, NFD included except for
 * its canonical reordering of combining marks; that reordering can only
 * move marks strip_accents drops anyway, or the 25 spacing marks that have
 * a combining class, none of which is in the BERT vocabularies (a word
 * holding one is [UNK] in either order).  So the pipeline is a map per code
 * point plus a class for splitting. */
#ifndef SQ_TOKENIZE_NORMALIZE_H
#define SQ_TOKENIZE_NORMALIZE_H

#include <stdbool.h>
#include <stdint.h>

/* How the pre-tokenizer treats a normalized char. */
enum {
    NC_WORD = 0,  /* part of a word */
    NC_SPACE = 1, /* separates words, dropped */
    NC_PUNCT = 2, /* a word of its own (BertPreTokenizer isolates punctuation) */
};

/* The most chars one code point becomes: canonical decompositions are at
 * most 4 code points long (lowercasing keeps the count, see normalize.c). */
#define NORM_MAX 8

typedef struct {
    uint8_t n;            /* chars produced; 0: the code point is dropped */
    bool isolated;        /* a CJK ideograph: spaces around it (handle_chinese_chars) */
    uint32_t cp[NORM_MAX];
    uint8_t cls[NORM_MAX];
} norm_result;

/* The pre-tokenizer's class of a normalized char (NC_*). */
int classify_cp(uint32_t c);
/* Normalizes code point c; uncased = strip accents and lowercase. */
void normalize_cp(uint32_t c, bool cased, norm_result *r);

/* The same from utf8proc's tables alone, without the fixups (fixups.h) for
 * the code points where HF's older or newer Unicode tables disagree; used
 * to regenerate the fixups (tests/tokenize/make_unicode_fixups.sh). */
int classify_cp_base(uint32_t c);
void normalize_cp_base(uint32_t c, bool cased, norm_result *r);

#endif
