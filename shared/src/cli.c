#include "sq/cli.h"
#include "sq/error.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *tool = "sq";
bool sq_quiet = false;

void sq_tool_init(const char *name) { tool = name; }
const char *sq_tool_name(void) { return tool; }

static void vline(const char *kind, const char *fmt, va_list ap) {
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    /* One line, always: a message quoting input may carry newlines. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (kind)
        fprintf(stderr, "%s: %s: %s\n", tool, kind, buf);
    else
        fprintf(stderr, "%s: %s\n", tool, buf);
}

_Noreturn void sq_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("error", fmt, ap);
    va_end(ap);
    exit(SQ_EXIT_FAIL);
}

_Noreturn void sq_die_lib(void) { sq_die("%s", sq_errmsg()); }

_Noreturn void sq_die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("error", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", tool);
    exit(SQ_EXIT_USAGE);
}

/* An option name as compared: '_' read as '-' (HF's --max_seq_length
 * style), lowercase, at most 63 chars. */
static void fold(const char *s, size_t n, char out[64]) {
    size_t i = 0;
    for (; i < n && i < 63; i++) out[i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
    out[i] = 0;
}

/* Optimal string alignment distance (edits, adjacent swaps) of two short strings. */
static size_t distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b), d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

const char *sq_option_suggest(const char *arg, const struct option *longopts) {
    if (!longopts) return NULL;
    while (*arg == '-') arg++;
    char want[64];
    fold(arg, strcspn(arg, "="), want);
    size_t wn = strlen(want);
    if (!wn) return NULL;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (const struct option *o = longopts; o->name; o++) {
        char have[64];
        fold(o->name, strlen(o->name), have);
        size_t hn = strlen(have);
        size_t d = distance(want, have);
        /* A few typos, fewer for short names: "--out" must not suggest "--cut". */
        size_t allowed = hn <= 4 ? 1 : hn <= 8 ? 2 : 3;
        if (d > allowed) {
            /* One name inside the other: --max-seq-length for --max-seq, --lr for --lr-rate. */
            const char *shorter = wn < hn ? want : have, *longer = wn < hn ? have : want;
            if (strlen(shorter) < 2 || !strstr(longer, shorter)) continue;
            d = 100 + strlen(longer) - strlen(shorter);
        }
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    return best;
}

/* The long options whose names start with arg's name (up to '='): *exact
 * the one equal to it, *count how many, names listed in many. */
static const struct option *long_match(const char *arg, const struct option *longopts, int *count, char *many,
                                       size_t cap) {
    const char *name = arg + 2;
    size_t n = strcspn(name, "=");
    const struct option *exact = NULL, *last = NULL;
    *count = 0;
    many[0] = 0;
    for (const struct option *o = longopts; o && o->name; o++) {
        if (strncmp(o->name, name, n)) continue;
        if (strlen(o->name) == n) exact = o;
        last = o;
        size_t used = strlen(many);
        if ((*count)++ < 4) snprintf(many + used, cap - used, "%s--%s", used ? ", " : "", o->name);
    }
    return exact ? exact : *count == 1 ? last : NULL;
}

_Noreturn void sq_die_option(int c, char *const argv[], const struct option *longopts) {
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    bool dashes = arg[0] == '-' && arg[1] == '-' && arg[2];
    int count = 0;
    char many[256];
    const struct option *o = dashes ? long_match(arg, longopts, &count, many, sizeof many) : NULL;
    int n = dashes ? (int)strcspn(arg, "=") : 0;
    /* getopt sets optopt to the option's value for "--quiet=1" and for a
     * long option missing its value, to the letter for a bad short option
     * (argv[optind - 1] may then be an earlier argument: "-xq" is not done),
     * and to 0 for an unknown long option. */
    if (optopt) {
        if (o && o->val == optopt) {
            if (c == ':') sq_die_usage("option '--%s' needs a value", o->name);
            sq_die_usage("option '--%s' takes no value", o->name);
        }
        if (c == ':') sq_die_usage("option '-%c' needs a value", optopt);
        sq_die_usage("unknown option '-%c'", optopt);
    }
    if (!dashes) sq_die_usage("unknown option '%s'", arg);
    if (!o && count > 1) sq_die_usage("option '%.*s' is ambiguous (%s)", n, arg, many);
    const char *hint = sq_option_suggest(arg, longopts);
    if (hint) sq_die_usage("unknown option '%.*s'; did you mean --%s?", n, arg, hint);
    sq_die_usage("unknown option '%.*s'", n, arg);
}

void sq_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("warning", fmt, ap);
    va_end(ap);
}

void sq_info(const char *fmt, ...) {
    if (sq_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vline(NULL, fmt, ap);
    va_end(ap);
}

long sq_opt_long(const char *opt, const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        sq_die_usage("%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        sq_die_usage("%s: %ld is out of range [%ld, %ld]", opt, v, min, max);
    return v;
}

double sq_opt_double(const char *opt, const char *s, double min, double max) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        sq_die_usage("%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        sq_die_usage("%s: %g is out of range [%g, %g]", opt, v, min, max);
    return v;
}

int sq_ncpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

double sq_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
