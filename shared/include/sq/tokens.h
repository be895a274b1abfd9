/* Tokens files (.sqt), written by sq-tokenize and read by sq-pack, sq-eval
 * and sq-inspect: every paragraph's context with its WordPiece ids and
 * code-point offsets, every question with its ids and answers, in the order
 * of the SQuAD file.  Stored in the sq container (kind SQ_KIND_TOKENS).
 *
 * An sq_tokens owns all the memory its arrays and strings point into. */
#ifndef SQ_TOKENS_H
#define SQ_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SQ_TOKENS_VERSION 1
#define SQ_TOKENS_CASED 1u /* header flag: the vocabulary was used cased */

typedef struct {
    const char *text;   /* UTF-8, NUL-terminated */
    uint32_t start;     /* answer_start, in code points of the context */
} sq_answer;

typedef struct {
    const char *title;
    const char *context;      /* UTF-8, NUL-terminated */
    uint32_t context_cps;     /* length in code points */
    uint32_t n_tokens;
    const uint32_t *ids;
    const uint32_t *offsets;  /* 2 * n_tokens: [start, end) in code points */
    uint32_t first_question, n_questions;
} sq_paragraph;

typedef struct {
    const char *id;
    const char *text;
    uint32_t paragraph;
    uint32_t n_ids;
    const uint32_t *ids;
    uint32_t n_answers;
    const sq_answer *answers;
    bool is_impossible;
} sq_question;

typedef struct {
    uint8_t vocab_sha256[32];
    uint8_t source_sha256[32]; /* of the SQuAD JSON file tokenized */
    uint32_t vocab_size;
    bool cased;
    /* Special token ids, so later stages need no vocabulary. */
    uint32_t cls_id, sep_id, pad_id, unk_id;
    char *version;            /* the SQuAD file's "version" string */
    uint32_t n_paragraphs, n_questions;
    sq_paragraph *paragraphs;
    sq_question *questions;
    void *arena;              /* private storage */
} sq_tokens;

/* Reads and verifies a tokens file; errors name the file and the damage. */
int sq_tokens_read(const char *path, sq_tokens **out);
int sq_tokens_readb(const char *name, const void *buf, size_t len, sq_tokens **out);
/* Writes atomically. */
int sq_tokens_write(const char *path, const sq_tokens *t);

/* Streaming writer, so that a producer need not hold every token at once:
 * the header fields come from meta (its paragraphs and questions are
 * ignored); then each call adds paragraphs ps[0..np) together with exactly
 * their questions qs[0..nq), in file order, as one compressed frame
 * (first_question and paragraph fields are recomputed, not read). */
typedef struct sq_tokens_writer sq_tokens_writer;
sq_tokens_writer *sq_tokens_writer_open(const char *path, const sq_tokens *meta, int zstd_level);
int sq_tokens_writer_add(sq_tokens_writer *w, const sq_paragraph *ps, uint32_t np, const sq_question *qs,
                         uint32_t nq);
/* Commits the file; frees w either way. */
int sq_tokens_writer_close(sq_tokens_writer *w);
void sq_tokens_writer_abort(sq_tokens_writer *w);
void sq_tokens_free(sq_tokens *t);
uint64_t sq_tokens_vocab_hash(const sq_tokens *t);

#endif
