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
 * starts with ':'): "option '--x' needs a value", "option '--x' takes no
 * value", "option '--ma' is ambiguous (--max-seq, --max-query)" or
 * "unknown option '--lr_rate'; did you mean --lr?", the suggestion drawn from
 * longopts (the table given to getopt_long; NULL: none). */
struct option;
_Noreturn void sq_die_option(int c, char *const argv[], const struct option *longopts);
/* The long option arg ("--max_seq", "--outptu=x") most likely meant: the
 * same name with '_' for '-', a name within a few edits of it, or one it
 * contains ("--max-seq-length" holds --max-seq); NULL when none is close. */
const char *sq_option_suggest(const char *arg, const struct option *longopts);

/* Every tool's --help ends with its exit statuses; this is the common line. */
#define SQ_HELP_EXIT_STATUS "Exit status: 0 on success, 1 for bad input (one line on stderr says what and why),\n" \
                            "2 for bad usage.\n"
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
