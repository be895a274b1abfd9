/* SQuAD v1.1 / v2.0 JSON files, validated: a schema error names the JSON path
 * (data[3].paragraphs[7].qas[2].answers[0].answer_start: expected an
 * integer); duplicate question ids are an error.  Strings carry their byte
 * length because JSON may hold \u0000.  An sq_squad owns all its memory. */
#ifndef SQ_SQUAD_H
#define SQ_SQUAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *text;
    size_t len;          /* bytes */
    uint32_t start;      /* answer_start, code points */
} sq_squad_answer;

typedef struct {
    const char *id;
    const char *question;
    size_t question_len;
    uint32_t paragraph;
    uint32_t n_answers;
    sq_squad_answer *answers;
    bool is_impossible;
} sq_squad_question;

typedef struct {
    const char *title;
    const char *context;
    size_t context_len;  /* bytes */
    uint32_t first_question, n_questions;
} sq_squad_paragraph;

typedef struct {
    char *version;
    bool v2;             /* version is "2..." or "v2..." (SQuAD 2.0's own files), or any is_impossible */
    uint8_t sha256[32];  /* of the file's bytes */
    uint32_t n_paragraphs, n_questions;
    sq_squad_paragraph *paragraphs;
    sq_squad_question *questions;
    void *priv;
} sq_squad;

/* path "-" reads stdin. */
int sq_squad_load(const char *path, sq_squad **out);
int sq_squad_loadb(const char *name, const char *buf, size_t len, sq_squad **out);
/* Index of a question id, or -1 (hash lookup). */
long sq_squad_find(const sq_squad *s, const char *id);
void sq_squad_free(sq_squad *s);

#endif
