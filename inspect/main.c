/* sq-inspect: prints any sq file as JSON lines.  The kind is told by
 * content, not by name: a directory holding manifest.json is a feature
 * directory; an sq container is told by its magic; anything else must be
 * safetensors (whose first 8 bytes are a small header length). */
#include "inspect.h"
#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/container.h"
#include "sq/error.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Larger header lengths are refused by the safetensors reader anyway; a
 * file starting with one is most likely not safetensors at all. */
#define SAFETENSORS_MAX_HEADER 100000000u

static void usage(FILE *fp) {
    fprintf(fp,
            "Usage: sq-inspect [OPTION]... FILE|DIR\n"
            "Print an sq file as JSON lines: safetensors files (one line per tensor),\n"
            "tokens files (.sqt) and feature directories (or one feature shard).\n"
            "\n"
            "  -v, --values       also print the values (tensor numbers, token ids)\n"
            "  -o, --output=FILE  write to FILE instead of standard output ('-')\n"
            "  -h, --help         show this help and exit\n"
            "      --version      show the version and exit\n"
            "\n"
            "Exit status: 0 on success, 1 for an unreadable or damaged input, 2 for bad usage.\n");
}

typedef int (*printer)(const char *path, FILE *out, bool values);

/* Picks the printer for path by looking at it; NULL with the error set. */
static printer detect(const char *path) {
    struct stat st;
    if (stat(path, &st)) {
        sq_err_sys("%s", path);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + sizeof "/manifest.json";
        char *m = sq_malloc(n);
        if (!m) return NULL;
        snprintf(m, n, "%s/manifest.json", path);
        int ok = access(m, F_OK) == 0;
        free(m);
        if (ok) return inspect_features;
        sq_err("%s: a directory without manifest.json (not a feature directory)", path);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        sq_err_sys("%s", path);
        return NULL;
    }
    uint8_t head[9];
    size_t got = fread(head, 1, sizeof head, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        errno = EIO;
        sq_err_sys("%s: read", path);
        return NULL;
    }
    if (got >= 8 && memcmp(head, SQ_KIND_FEATURES, 8) == 0) return inspect_features;
    if (got >= 8 && memcmp(head, SQ_KIND_TOKENS, 8) == 0) return inspect_tokens;
    uint64_t hlen = 0;
    for (size_t i = 0; i < 8 && i < got; i++) hlen |= (uint64_t)head[i] << (8 * i);
    /* Short and truncated files still go to the safetensors reader, which says precisely what is wrong. */
    if (got < 9 || (hlen <= SAFETENSORS_MAX_HEADER && head[8] == '{')) return inspect_safetensors;
    sq_err("%s: not an sq file: neither safetensors nor an sq container (unknown content)", path);
    return NULL;
}

int main(int argc, char **argv) {
    sq_tool_init("sq-inspect");
    static const struct option opts[] = {
        {"values", no_argument, NULL, 'v'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool values = false;
    const char *output = "-";
    int c;
    opterr = 0; /* getopt's own messages do not follow the sq-<tool>: error: form */
    while ((c = getopt_long(argc, argv, ":vo:h", opts, NULL)) != -1) {
        switch (c) {
        case 'v': values = true; break;
        case 'o': output = optarg; break;
        case 'h': usage(stdout); return SQ_EXIT_OK;
        case 'V': sq_print_version(); return SQ_EXIT_OK;
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind == argc) sq_die_usage("missing FILE|DIR to inspect");
    if (argc - optind > 1) sq_die_usage("one FILE|DIR at a time (got %d)", argc - optind);
    const char *path = argv[optind];

    printer print = detect(path);
    if (!print) sq_die_lib();
    sq_afile *out = sq_afile_open(output);
    if (!out) sq_die_lib();
    if (print(path, sq_afile_fp(out), values)) {
        sq_afile_abort(out);
        sq_die_lib();
    }
    if (sq_afile_commit(out)) sq_die_lib();
    return SQ_EXIT_OK;
}
