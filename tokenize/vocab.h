/* A WordPiece vocabulary: one token per line, the id is the line number, as
 * HuggingFace reads vocab.txt.  Lookup is an open-addressing hash table over
 * the token bytes (never a scan); continuation pieces are looked up with the
 * "##" prefix without building the string.  A vocab owns its text. */
#ifndef SQ_TOKENIZE_VOCAB_H
#define SQ_TOKENIZE_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t off, len;  /* bytes of the token in text */
    uint32_t id;
    uint32_t hash;
} vocab_slot;

typedef struct {
    char *text;          /* the file's bytes */
    size_t text_len;
    uint32_t size;       /* number of lines = number of ids */
    vocab_slot *slots;   /* len == 0: empty */
    size_t mask;
    uint32_t max_piece;  /* longest token in bytes, "##" not counted */
    uint8_t sha256[32];
    uint32_t cls_id, sep_id, pad_id, unk_id, mask_id;
    bool has_mask;
} vocab;

int vocab_load(const char *path, vocab *v);
/* As vocab_load from memory (copied); name is used in errors. */
int vocab_loadb(const char *name, const char *buf, size_t len, vocab *v);
void vocab_free(vocab *v);
/* The id of bytes s[0..len), with "##" in front when cont; -1 if absent. */
long vocab_find(const vocab *v, bool cont, const char *s, size_t len);

/* The same with the hash already known: WordPiece tries every prefix of a
 * word from the longest down, and the hash of each prefix comes from one
 * pass over the word (vocab_hash_step from vocab_hash_seed). */
uint32_t vocab_hash_seed(bool cont);
static inline uint32_t vocab_hash_step(uint32_t h, unsigned char byte) { return (h ^ byte) * 16777619u; }
long vocab_find_hashed(const vocab *v, uint32_t hash, bool cont, const char *s, size_t len);

#endif
