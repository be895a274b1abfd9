#include "sq/cli.h"
#include "sq/error.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

_Noreturn void sq_die_option(int c, char *const argv[]) {
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') sq_die_usage("option '%s' needs a value", arg);
    if (optopt) sq_die_usage("unknown option '-%c'", optopt);
    sq_die_usage("unknown option '%s'", arg);
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
