/* File kinds (sq/filekind.h): every kind from its first bytes or its
 * folder's names, the mix-ups the tools must name ("dev.json is a SQuAD JSON
 * dataset; sq-pack wants a tokens file from sq-tokenize (run sq-tokenize
 * first)"), and the "did you mean" of unknown options (sq/cli.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/filekind.h"

static char dir[64];

static int setup_dir(void **state) {
    strcpy(dir, "/tmp/sq-test-filekind-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown_dir(void **state) {
    assert_int_equal(sq_rmtree(dir), 0);
    return 0;
}

static sq_file_kind kind_of(const char *s, size_t n) { return sq_file_kind_bytes(s, n, true); }
#define KIND(lit) kind_of(lit, sizeof lit - 1)

static void test_bytes(void **state) {
    assert_int_equal(KIND(""), SQ_FILE_EMPTY);
    assert_int_equal(KIND("SQTOKENS\1\0\0\0\0\0\0\0"), SQ_FILE_TOKENS);
    assert_int_equal(KIND("SQFEATUR\1\0\0\0\0\0\0\0"), SQ_FILE_FEATURE_SHARD);
    assert_int_equal(KIND("SQFEATUR\1\0\0\0\1\0\0\0"), SQ_FILE_FEATURE_EXAMPLES);
    assert_int_equal(KIND("SQNEWKND\1\0\0\0"), SQ_FILE_SQ_OTHER);
    /* safetensors: a plausible little-endian header length, then '{' */
    assert_int_equal(KIND("\x0e\0\0\0\0\0\0\0{\"__metadata__\":{}}"), SQ_FILE_SAFETENSORS);
    /* JSON whose first 8 bytes read as a huge length is not safetensors */
    assert_int_equal(KIND("{\"architectures\": [\"BertForQuestionAnswering\"], \"hidden_size\": 768}"),
                     SQ_FILE_MODEL_CONFIG);
    assert_int_equal(KIND("{\"data\": [{\"title\": \"x\", \"paragraphs\": []}], \"version\": \"1.1\"}"),
                     SQ_FILE_SQUAD);
    assert_int_equal(KIND("\xef\xbb\xbf  \n{\"version\": \"v2.0\", \"data\": ["), SQ_FILE_SQUAD);
    assert_int_equal(KIND("{\"do_lower_case\": true, \"model_max_length\": 512}"), SQ_FILE_TOKENIZER_CONFIG);
    /* HF's tokenizer.json opens with "version" too */
    assert_int_equal(KIND("{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": ["),
                     SQ_FILE_TOKENIZER_CONFIG);
    assert_int_equal(KIND("{\"version\": \"1.1\"}"), SQ_FILE_SQUAD);
    assert_int_equal(KIND("{\"format\": \"sq-features\", \"version\": 1}"), SQ_FILE_FEATURE_MANIFEST);
    assert_int_equal(KIND("{\n  \"tool\": \"sq-train\",\n  \"options\": {\"lr\": 3e-05}\n}\n"), SQ_FILE_RUN_JSON);
    assert_int_equal(KIND("{\"epoch\": 1.0, \"global_batch\": 32, \"seed\": 1, \"step\": 30, \"steps_per_epoch\": 30}"),
                     SQ_FILE_CHECKPOINT_STATE);
    assert_int_equal(KIND("{\"step\": 5, \"loss\": 4.8}\n{\"step\": 10, \"loss\": 3.6}\n"), SQ_FILE_METRICS);
    assert_int_equal(KIND("{\"traceEvents\": []}"), SQ_FILE_TRACE);
    assert_int_equal(KIND("{\"56be4db0acb8001400a502ec\": \"Denver Broncos\", \"56be\": \"\"}"), SQ_FILE_PREDICTIONS);
    assert_int_equal(KIND("{\"56be4db0acb8001400a502ec\": 0.25, \"x\": -1e-3}"), SQ_FILE_NUMBERS);
    assert_int_equal(KIND("{\"a\": {\"b\": [1, \"}\"]}, \"c\": null}"), SQ_FILE_JSON);
    assert_int_equal(KIND("[1, 2]"), SQ_FILE_JSON);
    assert_int_equal(KIND("[PAD]\n[unused0]\n[UNK]\n[CLS]\n"), SQ_FILE_VOCAB);
    assert_int_equal(KIND("a\r\n[UNK]\r\nthe\r\n"), SQ_FILE_VOCAB);
    assert_int_equal(KIND("a\nb\n"), SQ_FILE_TEXT);
    assert_int_equal(KIND("caf\xc3\xa9\n"), SQ_FILE_TEXT);
    assert_int_equal(KIND("caf\xc3"), SQ_FILE_BINARY);            /* cut UTF-8 at the end of the whole file */
    assert_int_equal(sq_file_kind_bytes("caf\xc3", 4, false), SQ_FILE_TEXT); /* ... or only of the head */
    assert_int_equal(KIND("\x1f\x8b\x08\0"), SQ_FILE_GZIP);
    assert_int_equal(KIND("\x28\xb5\x2f\xfd\0"), SQ_FILE_ZSTD);
    assert_int_equal(KIND("PK\x03\x04\0\0"), SQ_FILE_ZIP);
    assert_int_equal(KIND("\x01\x02\x03\x04\x05"), SQ_FILE_BINARY);
    /* A JSON object cut by the end of the head still counts its first keys. */
    assert_int_equal(sq_file_kind_bytes("{\"data\": [{\"title\": \"Super", 25, false), SQ_FILE_SQUAD);
    /* Every kind has a description. */
    for (int k = 0; k < SQ_FILE_KIND_COUNT; k++) assert_non_null(sq_file_describe((sq_file_kind)k)->what);
}

static char *path(const char *name) {
    static char buf[4][256];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void put(const char *name, const char *text) {
    assert_int_equal(sq_write_file_atomic(path(name), text, strlen(text)), 0);
}

static sq_file_kind kind_at(const char *name) {
    sq_file_kind k;
    assert_int_equal(sq_file_kind_of(path(name), &k), 0);
    return k;
}

static void test_folders(void **state) {
    assert_int_equal(mkdir(path("feat"), 0755), 0);
    put("feat/manifest.json", "{\"format\": \"sq-features\"}");
    assert_int_equal(kind_at("feat"), SQ_FILE_FEATURES_DIR);
    assert_int_equal(mkdir(path("run"), 0755), 0);
    assert_int_equal(mkdir(path("run/checkpoints"), 0755), 0);
    assert_int_equal(kind_at("run"), SQ_FILE_RUN_DIR);
    assert_int_equal(mkdir(path("run/checkpoints/step-00000030"), 0755), 0);
    put("run/checkpoints/step-00000030/state.json", "{\"step\": 30}");
    put("run/checkpoints/step-00000030/manifest.json", "{\"world_size\": 2}"); /* a sharded checkpoint */
    assert_int_equal(kind_at("run/checkpoints/step-00000030"), SQ_FILE_CHECKPOINT_DIR);
    assert_int_equal(mkdir(path("hf"), 0755), 0);
    put("hf/vocab.txt", "[PAD]\n");
    assert_int_equal(kind_at("hf"), SQ_FILE_HF_MODEL_DIR);
    assert_int_equal(mkdir(path("other"), 0755), 0);
    assert_int_equal(kind_at("other"), SQ_FILE_DIR);
    sq_file_kind k;
    assert_int_equal(sq_file_kind_of(path("absent"), &k), -1);
    assert_non_null(strstr(sq_errmsg(), "absent: No such file or directory"));
}

static void test_expect(void **state) {
    put("dev.json", "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": []}]}");
    put("dev.sqt", "SQTOKENS\1\0\0\0\0\0\0\0");
    put("config.json", "{\"hidden_size\": 768}");
    const uint64_t tokens = SQ_FILE_BIT(SQ_FILE_TOKENS);
    assert_int_equal(sq_file_expect(path("dev.sqt"), tokens, "sq-pack", "a tokens file from sq-tokenize"), 0);
    assert_int_equal(sq_file_expect(path("dev.json"), tokens, "sq-pack", "a tokens file from sq-tokenize"), -1);
    char want[512];
    snprintf(want, sizeof want,
             "%s is a SQuAD JSON dataset; sq-pack wants a tokens file from sq-tokenize (run sq-tokenize first)",
             path("dev.json"));
    assert_string_equal(sq_errmsg(), want);
    assert_int_equal(sq_file_expect(path("dev.sqt"), SQ_FILE_BIT(SQ_FILE_SQUAD), "--dataset", "the SQuAD JSON"), -1);
    snprintf(want, sizeof want, "%s is a tokens file from sq-tokenize; --dataset wants the SQuAD JSON",
             path("dev.sqt"));
    assert_string_equal(sq_errmsg(), want);
    assert_int_equal(sq_file_expect(path("dev.sqt"), SQ_FILE_BIT(SQ_FILE_FEATURES_DIR), "--data",
                                    "a feature folder from sq-pack"),
                     -1);
    assert_non_null(strstr(sq_errmsg(), "is a tokens file from sq-tokenize; --data wants a feature folder from "
                                        "sq-pack (run sq-pack on it first)"));
    assert_int_equal(sq_file_expect(path("config.json"), SQ_FILE_BIT(SQ_FILE_SAFETENSORS), "--init", "weights"), -1);
    assert_non_null(strstr(sq_errmsg(), "config.json is a model config (HF config.json); --init wants weights"));
    assert_int_equal(sq_file_expect(path("nope"), tokens, "sq-pack", "x"), -1);
    assert_non_null(strstr(sq_errmsg(), "nope: No such file or directory"));
    assert_int_equal(sq_file_expect("-", tokens, "sq-pack", "x"), 0); /* standard input is not peeked at */
}

static void test_suggest(void **state) {
    static const struct option opts[] = {
        {"max-seq", required_argument, NULL, 1}, {"max-query", required_argument, NULL, 2},
        {"doc-stride", required_argument, NULL, 3}, {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},          {"lr", required_argument, NULL, 4},
        {NULL, 0, NULL, 0},
    };
    assert_string_equal(sq_option_suggest("--max_seq", opts), "max-seq");
    assert_string_equal(sq_option_suggest("--max_seq_length", opts), "max-seq");
    assert_string_equal(sq_option_suggest("--doc_stride=128", opts), "doc-stride");
    assert_string_equal(sq_option_suggest("--outptu", opts), "output");
    assert_string_equal(sq_option_suggest("--max-querry", opts), "max-query");
    assert_string_equal(sq_option_suggest("--quite", opts), "quiet");
    assert_null(sq_option_suggest("--bogus", opts));
    assert_null(sq_option_suggest("--x", opts));
    assert_null(sq_option_suggest("--bogus", NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
