/* sq-train's inputs told apart by their first bytes (files) or what they
 * hold (folders), so that a file given to the wrong option is named with
 * the tool that makes it ("train.sqt is a tokens file from sq-tokenize;
 * --data wants a feature folder from sq-pack") instead of by the parser
 * that choked on it.  The kinds are the shared library's (sq/filekind.h);
 * only sure mistakes are reported: a path that is missing or of no known
 * kind is left to the reader's own message. */
#ifndef SQ_TRAIN_INPUT_KIND_H
#define SQ_TRAIN_INPUT_KIND_H

typedef enum {
    SQ_WANT_FEATURES, /* a feature folder (or one of its shards) from sq-pack */
    SQ_WANT_WEIGHTS,  /* safetensors weights (folders are the loader's to judge) */
    SQ_WANT_CONFIG,   /* an HF config.json */
    SQ_WANT_DATASET,  /* a SQuAD JSON */
} sq_want;

/* 0 when path may be what opt wants; -1 with a message (sq_err) when it is
 * surely another kind of file. */
int sq_check_input(const char *opt, const char *path, sq_want want);

#endif
