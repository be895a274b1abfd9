/* HF BertConfig <-> sq_bert_config.  Defaults are BertConfig's, so a
 * config.json that leaves a field out means what it means to HF. */
#include "core/model.h"

#include "sq/error.h"
#include "sq/json.h"

#include <stdio.h>
#include <string.h>

static int get_int(json_t *j, const char *key, int def, int min, int max, int *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return sq_err("%s: expected an integer in [%d, %d]", key, min, max);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_float(json_t *j, const char *key, double def, double min, double max, double *out) {
    json_t *v = json_object_get(j, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v)) return sq_err("%s: expected a number", key);
        x = json_number_value(v);
    }
    if (!(x >= min && x <= max)) return sq_err("%s: %g is outside [%g, %g]", key, x, min, max);
    *out = x;
    return 0;
}

static int get_str(json_t *j, const char *key, const char *def, const char **out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v)) return sq_err("%s: expected a string", key);
    *out = json_string_value(v);
    return 0;
}

static int parse(json_t *j, sq_bert_config *c) {
    const char *act = NULL, *pos = NULL, *type = NULL;
    if (!json_is_object(j)) return sq_err("expected a JSON object");
    if (get_str(j, "model_type", "bert", &type)) return -1;
    if (strcmp(type, "bert")) return sq_err("model_type: \"%s\" is not \"bert\"", type);
    if (get_int(j, "vocab_size", 30522, 1, 1 << 22, &c->vocab_size) ||
        get_int(j, "hidden_size", 768, 1, 1 << 14, &c->hidden) ||
        get_int(j, "num_hidden_layers", 12, 1, 256, &c->layers) ||
        get_int(j, "num_attention_heads", 12, 1, 1024, &c->heads) ||
        get_int(j, "intermediate_size", 3072, 1, 1 << 16, &c->intermediate) ||
        get_int(j, "max_position_embeddings", 512, 1, 1 << 14, &c->max_position) ||
        get_int(j, "type_vocab_size", 2, 1, 1 << 10, &c->type_vocab) ||
        get_int(j, "pad_token_id", 0, 0, 1 << 22, &c->pad_token_id) ||
        get_float(j, "layer_norm_eps", 1e-12, 0, 1, &c->layer_norm_eps) ||
        get_float(j, "initializer_range", 0.02, 0, 10, &c->initializer_range) ||
        get_float(j, "hidden_dropout_prob", 0.1, 0, 0.99, &c->hidden_dropout) ||
        get_float(j, "attention_probs_dropout_prob", 0.1, 0, 0.99, &c->attention_dropout) ||
        get_str(j, "hidden_act", "gelu", &act) ||
        get_str(j, "position_embedding_type", "absolute", &pos))
        return -1;
    if (c->hidden % c->heads)
        return sq_err("hidden_size %d is not a multiple of num_attention_heads %d", c->hidden, c->heads);
    if (c->pad_token_id >= c->vocab_size)
        return sq_err("pad_token_id %d is outside the vocabulary (%d)", c->pad_token_id, c->vocab_size);
    if (strcmp(act, "gelu")) return sq_err("hidden_act: \"%s\" is not supported (only \"gelu\")", act);
    if (strcmp(pos, "absolute"))
        return sq_err("position_embedding_type: \"%s\" is not supported (only \"absolute\")", pos);
    /* The flat buffer is indexed with size_t but dropout elements with 32
     * bits: (heads * max_pos + query) * max_pos + key must fit. */
    if ((uint64_t)c->heads * c->max_position * c->max_position >= ((uint64_t)1 << 32))
        return sq_err("num_attention_heads x max_position_embeddings^2 is too large");
    return 0;
}

int sq_config_parse(const char *name, const char *json, size_t len, sq_bert_config *out) {
    json_t *j = sq_json_loadb(name, json, len);
    if (!j) return -1;
    sq_bert_config c;
    int rc = parse(j, &c);
    json_decref(j);
    if (rc) return sq_err_ctx("%s", name);
    *out = c;
    return 0;
}

char *sq_config_to_json(const sq_bert_config *c) {
    json_t *j = json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:f, s:f, s:f, s:f}",
                          "architectures", "BertForQuestionAnswering", "model_type", "bert",
                          "vocab_size", c->vocab_size, "hidden_size", c->hidden,
                          "num_hidden_layers", c->layers, "num_attention_heads", c->heads,
                          "intermediate_size", c->intermediate, "max_position_embeddings", c->max_position,
                          "type_vocab_size", c->type_vocab, "pad_token_id", c->pad_token_id,
                          "hidden_act", "gelu", "position_embedding_type", "absolute",
                          "layer_norm_eps", c->layer_norm_eps,
                          "initializer_range", c->initializer_range,
                          "hidden_dropout_prob", c->hidden_dropout,
                          "attention_probs_dropout_prob", c->attention_dropout);
    if (!j) {
        sq_err("cannot build config JSON");
        return NULL;
    }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!s) sq_err("cannot build config JSON");
    return s;
}
