/* sq-eval writes JSON as Python's json.dumps does: repr() of floats and
 * ensure_ascii strings, checked against Python's own output
 * (fixtures/pyjson.json, make_fixtures.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

static json_t *fixture(void) {
    const char *root = getenv("SQ_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/evaluate/fixtures/pyjson.json", root && *root ? root : ".");
    json_error_t e;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &e);
    if (!j) fail_msg("%s: %s", path, e.text);
    return j;
}

static void test_floats(void **state) {
    json_t *j = fixture();
    size_t i, bad = 0;
    json_t *row;
    json_array_foreach(json_object_get(j, "floats"), i, row) {
        uint64_t bits = strtoull(json_string_value(json_array_get(row, 0)), NULL, 16);
        double x;
        memcpy(&x, &bits, sizeof x);
        char got[32];
        sq_pyfloat(x, got);
        const char *want = json_string_value(json_array_get(row, 1));
        if (strcmp(got, want) != 0 && bad++ < 10) print_error("%016" PRIx64 ": %s, Python %s\n", bits, got, want);
    }
    print_message("%zu floats\n", json_array_size(json_object_get(j, "floats")));
    assert_int_equal(bad, 0);
    char buf[32];
    sq_pyfloat(0.0 / 0.0, buf);
    assert_string_equal(buf, "NaN");
    sq_pyfloat(-1.0 / 0.0, buf);
    assert_string_equal(buf, "-Infinity");
    json_decref(j);
}

static void test_strings(void **state) {
    json_t *j = fixture();
    size_t i, bad = 0;
    json_t *row;
    json_array_foreach(json_object_get(j, "strings"), i, row) {
        const json_t *s = json_array_get(row, 0);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        assert_non_null(f);
        sq_pystring(f, json_string_value(s), json_string_length(s));
        fclose(f);
        const char *want = json_string_value(json_array_get(row, 1));
        if (strcmp(out, want) != 0 && bad++ < 10) print_error("%s, Python %s\n", out, want);
        free(out);
    }
    assert_int_equal(bad, 0);
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
