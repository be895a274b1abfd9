/* HuggingFace's WordPiece model on one pre-tokenized word: greedy longest
 * match from the left, continuation pieces looked up with "##", and the
 * whole word becomes [UNK] when it has more than 100 chars
 * (max_input_chars_per_word) or when some position matches no piece. */
#ifndef SQ_TOKENIZE_WORDPIECE_H
#define SQ_TOKENIZE_WORDPIECE_H

#include "vocab.h"

#include <stddef.h>
#include <stdint.h>

#define WORDPIECE_MAX_CHARS 100

/* The word is n chars of UTF-8 in bytes, char i at bytes[start[i]..start[i+1]).
 * Writes each piece's id and its end char (exclusive; the next piece starts
 * there) into ids/ends, which hold at least n entries; returns the number of
 * pieces (1 with the unk id and end n for an unknown word).  n > 0. */
size_t wordpiece(const vocab *v, const char *bytes, const uint32_t *start, size_t n, uint32_t *ids,
                 uint32_t *ends);

#endif
