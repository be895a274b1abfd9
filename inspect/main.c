/* sq-inspect: prints any sq file or folder as JSON lines.  The kind is
 * told by content, not by name (sq/filekind.h): sq's magics, safetensors'
 * header, a feature folder's manifest.json, a run's run.json or
 * checkpoints/, a checkpoint's state.json. */
#include "inspect.h"
#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/filekind.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "Usage: sq-inspect [OPTION]... FILE|DIR\n"
            "Print an sq file or folder as JSON lines: safetensors files (a line per tensor,\n"
            "the metadata first), tokens files (.sqt), feature folders and their shards and\n"
            "example table (a summary), sq-train run folders (settings, progress,\n"
            "checkpoints, files) and checkpoint folders (state, model config, files).\n"
            "\n"
            "  -v, --values       also print the values: tensor numbers, token ids and texts,\n"
            "                     every feature, question ids, metrics lines, model tensors\n"
            "  -o, --output=FILE  write to FILE instead of standard output ('-')\n"
            "  -h, --help         show this help and exit\n"
            "  -V, --version      show the version and exit\n"
            "\n"
            "A file that is none of these is named for what it is (\"dev.json is a SQuAD\n"
            "JSON dataset\").  Nothing is written for a damaged input; -o FILE is written\n"
            "under a temporary name and renamed.\n"
            "\n" SQ_HELP_EXIT_STATUS);
}

typedef int (*printer)(const char *path, FILE *out, bool values);

/* The safetensors reader says best what is wrong with a file too short to tell. */
#define TOO_SHORT_TO_TELL 9

/* Picks the printer for path by looking at it; NULL with the error set. */
static printer detect(const char *path) {
    sq_file_kind k;
    if (sq_file_kind_of(path, &k)) return NULL;
    switch (k) {
    case SQ_FILE_SAFETENSORS: return inspect_safetensors;
    case SQ_FILE_TOKENS: return inspect_tokens;
    case SQ_FILE_FEATURES_DIR:
    case SQ_FILE_FEATURE_SHARD: return inspect_features;
    case SQ_FILE_FEATURE_EXAMPLES: return inspect_examples;
    case SQ_FILE_RUN_DIR: return inspect_run;
    case SQ_FILE_CHECKPOINT_DIR: return inspect_checkpoint;
    case SQ_FILE_EMPTY:
    case SQ_FILE_BINARY: {
        struct stat st;
        if (!stat(path, &st) && st.st_size < TOO_SHORT_TO_TELL) return inspect_safetensors;
        break;
    }
    default: break;
    }
    /* Anything else is named for what it is (no kind is wanted: always an error). */
    sq_file_expect(path, 0, "sq-inspect",
                   "an sq file: safetensors, a tokens file, a feature folder or shard, a run or checkpoint folder");
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
    while ((c = getopt_long(argc, argv, ":vo:hV", opts, NULL)) != -1) {
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
