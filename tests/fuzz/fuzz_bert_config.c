/* libFuzzer target: sq_config_parse (HF config.json) on arbitrary bytes; an
 * accepted config is valid (positive sizes, heads dividing hidden, dropout
 * below 1) and survives sq_config_to_json and parsing again unchanged. */
// FUZZ_SOURCES: train/core/config.c
#include "core/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sq_bert_config c, d;
    if (sq_config_parse("fuzz", (const char *)data, size, &c)) return 0;
    if (c.vocab_size < 1 || c.hidden < 1 || c.layers < 1 || c.heads < 1 || c.hidden % c.heads ||
        c.intermediate < 1 || c.max_position < 1 || c.type_vocab < 1 || c.pad_token_id >= c.vocab_size ||
        !(c.hidden_dropout < 1) || !(c.attention_dropout < 1))
        abort();
    char *j = sq_config_to_json(&c);
    if (!j) return 0;
    if (sq_config_parse("again", j, strlen(j), &d) || memcmp(&c, &d, sizeof c)) abort();
    free(j);
    return 0;
}
