/* sq-train's checks of its inputs over the shared library's file kinds
 * (sq/filekind.h): which kinds each option takes, and the hint that names
 * the option a mixed-up file belongs to. */
#include "cmd/input_kind.h"

#include "sq/error.h"
#include "sq/filekind.h"

#include <stdbool.h>
#include <stdint.h>

static const char *wants[] = {
    [SQ_WANT_FEATURES] = "a feature folder from sq-pack",
    [SQ_WANT_WEIGHTS] = "model weights (.safetensors)",
    [SQ_WANT_CONFIG] = "an HF config.json",
    [SQ_WANT_DATASET] = "the SQuAD JSON the dev features were made from",
};

/* The kinds an option takes.  Kinds the library cannot tell apart from
 * those (other JSON, other text, a folder it does not know) pass: the
 * reader's own message is then the better one. */
static uint64_t fits(sq_want w) {
    uint64_t vague = SQ_FILE_BIT(SQ_FILE_BINARY) | SQ_FILE_BIT(SQ_FILE_TEXT) | SQ_FILE_BIT(SQ_FILE_DIR);
    switch (w) {
    case SQ_WANT_FEATURES:
        return vague | SQ_FILE_BIT(SQ_FILE_FEATURES_DIR) | SQ_FILE_BIT(SQ_FILE_FEATURE_SHARD) |
               SQ_FILE_BIT(SQ_FILE_FEATURE_EXAMPLES) | SQ_FILE_BIT(SQ_FILE_FEATURE_MANIFEST);
    case SQ_WANT_WEIGHTS: /* folders are --init's loader's to judge (an HF model folder is one) */
        return vague | SQ_FILE_BIT(SQ_FILE_SAFETENSORS) | SQ_FILE_BIT(SQ_FILE_JSON) |
               SQ_FILE_BIT(SQ_FILE_HF_MODEL_DIR) | SQ_FILE_BIT(SQ_FILE_RUN_DIR) | SQ_FILE_BIT(SQ_FILE_CHECKPOINT_DIR);
    case SQ_WANT_CONFIG: /* a small config can look like a JSON of strings or numbers */
        return vague | SQ_FILE_BIT(SQ_FILE_MODEL_CONFIG) | SQ_FILE_BIT(SQ_FILE_JSON) |
               SQ_FILE_BIT(SQ_FILE_PREDICTIONS) | SQ_FILE_BIT(SQ_FILE_NUMBERS);
    case SQ_WANT_DATASET: return vague | SQ_FILE_BIT(SQ_FILE_SQUAD) | SQ_FILE_BIT(SQ_FILE_JSON);
    }
    return ~(uint64_t)0;
}

int sq_check_input(const char *opt, const char *path, sq_want want) {
    sq_file_kind k;
    if (sq_file_kind_of(path, &k)) return 0; /* missing or unreadable: the reader says so */
    if (fits(want) & SQ_FILE_BIT(k)) return 0;
    /* The usual mix-ups get the option that takes the file. */
    const char *hint = "";
    if (want == SQ_WANT_WEIGHTS && k == SQ_FILE_MODEL_CONFIG) hint = " (a config goes to --config)";
    if (want == SQ_WANT_CONFIG && k == SQ_FILE_SAFETENSORS) hint = " (weights go to --init)";
    if (want == SQ_WANT_FEATURES && (k == SQ_FILE_TOKENS || k == SQ_FILE_SQUAD))
        hint = " (sq-pack makes one from a tokens file)";
    return sq_err("%s is %s; %s wants %s%s", path, sq_file_describe(k)->what, opt, wants[want], hint);
}
