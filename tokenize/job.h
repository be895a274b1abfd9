/* The work of sq-tokenize: every context and question of a loaded SQuAD
 * file through the encoder on N threads, written as a tokens file a run of
 * paragraphs at a time (so the tokens never all sit in memory).  The output
 * does not depend on the number of threads. */
#ifndef SQ_TOKENIZE_JOB_H
#define SQ_TOKENIZE_JOB_H

#include "sq/squad.h"
#include "vocab.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t context_tokens, question_tokens;
    uint32_t bad_answers;       /* answers whose text is not at answer_start */
    uint32_t bad_ids[5];        /* the questions of the first few of them */
    uint32_t n_bad_ids;
} job_stats;

int tokenize_squad(const sq_squad *s, const vocab *v, bool cased, int threads, const char *out, job_stats *stats);

#endif
