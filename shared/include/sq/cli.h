/* What every sq tool's main() shares: its name in messages, --version, the
 * one-line error convention ("sq-<tool>: error: <what>: <why>", exit 1 for
 * bad input, 2 for bad usage) and strict parsing of option values. */
#ifndef SQ_CLI_H
#define SQ_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum { SQ_EXIT_OK = 0, SQ_EXIT_FAIL = 1, SQ_EXIT_USAGE = 2 };

/* Records the tool's name ("sq-tokenize") for every later message. */
void sq_tool_init(const char *name);
const char *sq_tool_name(void);

_Noreturn void sq_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints sq_errmsg() (the library's last error) and exits 1. */
_Noreturn void sq_die_lib(void);
/* Bad usage: the message, a hint to --help, exit 2. */
_Noreturn void sq_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* getopt_long's '?' or ':' (call it with opterr = 0 and an optstring that
 * starts with ':'): "unknown option '--x'" or "option '--x' needs a value". */
_Noreturn void sq_die_option(int c, char *const argv[]);
void sq_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line on stderr ("sq-pack: ..."), unless sq_quiet is set. */
void sq_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool sq_quiet;

/* "sq-tokenize 0.1.0 (commit abcdef123456)" on stdout. */
void sq_print_version(void);
const char *sq_version(void);
const char *sq_git_commit(void);

/* Option values: the whole string must parse and lie in [min, max];
 * otherwise a usage error naming the option. */
long sq_opt_long(const char *opt, const char *s, long min, long max);
double sq_opt_double(const char *opt, const char *s, double min, double max);

/* Number of online CPUs (at least 1). */
int sq_ncpus(void);
/* Monotonic clock in seconds. */
double sq_now(void);

#endif
