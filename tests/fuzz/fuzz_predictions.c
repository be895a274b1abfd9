/* libFuzzer target: sq-eval's prediction and no-answer probability parsers
 * on arbitrary bytes, against a small built-in dataset, and the official
 * scoring of whatever they accept (normalisation of arbitrary UTF-8, both
 * rule sets, the best-threshold search).  The first byte picks: bit 0 the
 * SQuAD version, bit 1 predictions or probabilities. */
// FUZZ_SOURCES: evaluate/predictions.c
#include "../../evaluate/predictions.h"
#include "sq/score.h"
#include "sq/squad.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char v1[] =
    "{\"version\": \"1.1\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": "
    "\"The \\u03a3 caf\\u00e9 a an.\", \"qas\": [{\"id\": \"a\", \"question\": \"?\", \"answers\": "
    "[{\"text\": \"The \\u03a3\", \"answer_start\": 0},"
    " {\"text\": \"caf\\u00e9 a\", \"answer_start\": 6}]}, {\"id\": \"b\", \"question\": \"?\", \"answers\": "
    "[{\"text\": \"an.\", \"answer_start\": 13}]}]}]}]}";
static const char v2[] =
    "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"The \\u03a3 caf\\u00e9.\","
    " \"qas\": [{\"id\": \"a\", \"question\": \"?\", \"answers\": [{\"text\": \"caf\\u00e9\", \"answer_start\": 6}]},"
    " {\"id\": \"b\", \"question\": \"?\", \"answers\": [], \"is_impossible\": true}, {\"id\": \"c\", \"question\": "
    "\"?\", \"answers\": [{\"text\": \"The\", \"answer_start\": 0}]}]}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    static sq_squad *sets[2];
    if (!sets[0] &&
        (sq_squad_loadb("v1", v1, sizeof v1 - 1, &sets[0]) || sq_squad_loadb("v2", v2, sizeof v2 - 1, &sets[1])))
        abort();
    const sq_squad *s = sets[data[0] & 1];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    sq_scores sc;
    if (data[0] & 2) {
        sq_na_prob *na;
        size_t n;
        uint32_t unknown;
        if (sq_na_probs_parse("fuzz", buf, len, s, &na, &n, &unknown) == 0) {
            /* Everyone answers "x", so that every probability is needed. */
            const char *text[3] = {"x", "x", "x"};
            size_t tl[3] = {1, 1, 1};
            sq_score(s, text, tl, na, n, 0.5, &sc);
            free(na);
        }
        return 0;
    }
    sq_preds *p;
    if (sq_preds_parse("fuzz", buf, len, s, &p) == 0) {
        sq_score(s, p->text, p->len, NULL, 0, 1.0, &sc);
        sq_preds_free(p);
    }
    return 0;
}
