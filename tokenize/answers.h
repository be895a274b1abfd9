/* Whether an answer's text sits at its answer_start in the context, as
 * HuggingFace run_qa assumes (context[start : start + len(text)] == text in
 * code points).  Answers that fail are kept: training labels come from
 * answer_start and the text's length, as in run_qa. */
#ifndef SQ_TOKENIZE_ANSWERS_H
#define SQ_TOKENIZE_ANSWERS_H

#include "sq/squad.h"

#include <stdbool.h>
#include <stddef.h>

bool answer_matches(const char *context, size_t context_len, const sq_squad_answer *a);

#endif
