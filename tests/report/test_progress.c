/* The progress display: plain lines every `every` units and at the total,
 * a bar redrawn at most 10 times a second and cut to the width, nothing when
 * off, and the duration format of the ETA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sq/cli.h"
#include "sq/progress.h"

/* Everything written to fp so far, as a string (caller frees). */
static char *contents(FILE *fp)
{
    fflush(fp);
    long n = ftell(fp);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    rewind(fp);
    assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
    s[n] = '\0';
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_lines(void **state)
{
    FILE *fp = tmpfile();
    assert_non_null(fp);
    sq_progress *p = sq_progress_open(fp, SQ_PROGRESS_AUTO, "step", 10, 3);
    assert_non_null(p);
    /* A file is not a terminal. */
    assert_int_equal(sq_progress_get_mode(p), SQ_PROGRESS_LINES);
    for (long i = 1; i <= 10; i++)
        sq_progress_update(p, i, "loss 1.5");
    sq_progress_close(p);
    char *s = contents(fp);
    assert_int_equal(count(s, "\n"), 4);
    assert_int_equal(count(s, "\r"), 0);
    assert_non_null(strstr(s, "step 3/10  30% ETA "));
    assert_non_null(strstr(s, "step 9/10  90% ETA "));
    assert_non_null(strstr(s, "step 10/10 100% done in "));
    free(s);
    fclose(fp);
}

static void test_lines_close_draws_last(void **state)
{
    /* Stopped between two lines: close prints where it stopped. */
    FILE *fp = tmpfile();
    sq_progress *p = sq_progress_open(fp, SQ_PROGRESS_LINES, "step", 0, 5);
    for (long i = 1; i <= 7; i++)
        sq_progress_update(p, i, NULL);
    sq_progress_close(p);
    char *s = contents(fp);
    assert_string_equal(s, "step 5\nstep 7\n");
    free(s);
    fclose(fp);
}

static void test_bar(void **state)
{
    FILE *fp = tmpfile();
    sq_progress *p = sq_progress_open(fp, SQ_PROGRESS_BAR, "step", 100000, 1);
    double t0 = sq_now();
    char status[600];
    memset(status, 'x', sizeof status - 1);
    status[sizeof status - 1] = '\0';
    for (long i = 1; i <= 100000; i++)
        sq_progress_update(p, i, status);
    double dt = sq_now() - t0;
    sq_progress_close(p);
    char *s = contents(fp);
    /* At most 10 draws a second, plus the first and the last. */
    int draws = count(s, "\r");
    assert_true(draws >= 2);
    assert_true(draws <= 2 + (int)(dt * 10) + 1);
    assert_non_null(strstr(s, "step 100000/100000 [####################] 100% done in "));
    assert_int_equal(s[strlen(s) - 1], '\n');
    /* Each drawn line fits in the (default, 100-column) width. */
    for (char *q = strchr(s, '\r'); q; q = strchr(q + 1, '\r')) {
        char *end = strstr(q, "\x1b[K");
        assert_non_null(end);
        assert_true(end - q - 1 <= 99);
    }
    free(s);
    fclose(fp);
}

static void test_bar_clear(void **state)
{
    FILE *fp = tmpfile();
    sq_progress *p = sq_progress_open(fp, SQ_PROGRESS_BAR, "step", 4, 1);
    sq_progress_update(p, 1, NULL);
    sq_progress_clear(p);
    sq_progress_update(p, 2, NULL);
    sq_progress_close(p);
    char *s = contents(fp);
    /* Drawn, erased, drawn again at once (not held back by the rate limit). */
    assert_non_null(strstr(s, "\rstep 1/4 [#####...............]  25%"));
    assert_non_null(strstr(s, "\r\x1b[K\rstep 2/4 [##########..........]  50%"));
    free(s);
    fclose(fp);
}

static void test_off(void **state)
{
    FILE *fp = tmpfile();
    sq_progress *p = sq_progress_open(fp, SQ_PROGRESS_OFF, "step", 3, 1);
    for (long i = 1; i <= 3; i++)
        sq_progress_update(p, i, "x");
    sq_progress_clear(p);
    sq_progress_close(p);
    fflush(fp);
    assert_int_equal(ftell(fp), 0);
    fclose(fp);
    sq_progress_update(NULL, 1, NULL);
    sq_progress_close(NULL);
}

static void test_duration(void **state)
{
    char b[32];
    assert_string_equal(sq_progress_duration(b, sizeof b, 0), "0s");
    assert_string_equal(sq_progress_duration(b, sizeof b, 59.4), "59s");
    assert_string_equal(sq_progress_duration(b, sizeof b, 185), "3m05s");
    assert_string_equal(sq_progress_duration(b, sizeof b, 7380), "2h03m");
    assert_string_equal(sq_progress_duration(b, sizeof b, 4 * 86400 + 7200), "4d02h");
    assert_string_equal(sq_progress_duration(b, sizeof b, -1), "?");
    assert_string_equal(sq_progress_duration(b, sizeof b, NAN), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),     cmocka_unit_test(test_lines_close_draws_last),
        cmocka_unit_test(test_bar),       cmocka_unit_test(test_bar_clear),
        cmocka_unit_test(test_off),       cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
