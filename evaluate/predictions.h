/* Prediction files as the official SQuAD scripts read them: a JSON object
 * {question id: answer text}, and no-answer probability files {question id:
 * number}.  Ids are matched against a loaded dataset; ids it lacks are
 * counted and otherwise ignored, as the scripts ignore them.  An sq_preds
 * owns its memory; texts live until sq_preds_free. */
#ifndef SQ_EVAL_PREDICTIONS_H
#define SQ_EVAL_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "sq/score.h"
#include "sq/squad.h"

typedef struct {
    uint32_t n_questions;  /* of the dataset */
    const char **text;     /* per question; NULL = no prediction */
    size_t *len;           /* bytes (answers may hold \u0000) */
    uint32_t n_given;      /* entries in the file */
    uint32_t n_unknown;    /* of which for ids the dataset lacks */
    void *priv;
} sq_preds;

/* name is used in errors ("<name>:<line>:<col>: ..." for bad JSON,
 * "<name>: \"<id>\": expected a string, got an array" for bad schema). */
int sq_preds_parse(const char *name, const char *buf, size_t len, const sq_squad *s, sq_preds **out);
int sq_preds_load(const char *path, const sq_squad *s, sq_preds **out);
void sq_preds_free(sq_preds *p);

/* A no-answer probability file: entries for the dataset's questions in file
 * order (*out malloc'd, caller frees; never NULL on success), others counted
 * in *n_unknown. */
int sq_na_probs_parse(const char *name, const char *buf, size_t len, const sq_squad *s, sq_na_prob **out, size_t *n,
                      uint32_t *n_unknown);
int sq_na_probs_load(const char *path, const sq_squad *s, sq_na_prob **out, size_t *n, uint32_t *n_unknown);

#endif
