/* sq-pack: a tokens file (.sqt) to the features HuggingFace run_qa builds,
 * in compressed shards (sq/features.h), reused when nothing changed. */
#include "reuse.h"
#include "window.h"
#include "writer.h"
#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/filekind.h"
#include "sq/hash.h"
#include "sq/tokens.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

/* A tokens file of all of SQuAD is tens of MB; this only bounds damage. */
#define MAX_INPUT ((size_t)1 << 36)

static void usage(FILE *fp) {
    fprintf(fp,
            "Usage: sq-pack [OPTION]... -o OUTDIR INPUT.sqt\n"
            "Cut every (question, context) pair of a tokens file from sq-tokenize into the\n"
            "windows HuggingFace run_qa trains and evaluates on, with its labels, and store\n"
            "them unpadded in compressed shards under OUTDIR.\n"
            "\n"
            "  -o, --output=OUTDIR    feature directory to write (required)\n"
            "      --max-seq=N        tokens per feature, [CLS] to the last [SEP] (384)\n"
            "      --doc-stride=N     context tokens shared by consecutive windows (128, or\n"
            "                         half the context room when 128 does not fit)\n"
            "      --max-query=N      questions are cut to N tokens (min(64, max-seq / 2))\n"
            "      --shard-size=N     features per shard (8192)\n"
            "      --level=N          zstd level of the shards (1)\n"
            "  -f, --force            replace an OUTDIR built from another input or\n"
            "                         with other options, and rebuild an up-to-date one\n"
            "  -q, --quiet            no summary line\n"
            "  -h, --help             show this help and exit\n"
            "  -V, --version          show the version and exit\n"
            "\n"
            "The defaults of --max-query and --doc-stride follow --max-seq, so --max-seq\n"
            "alone always works; at 384 they are run_qa's 64 and 128 (the context room is\n"
            "max-seq - max-query - 3).  An OUTDIR built from the same input (by sha256) with\n"
            "the same options is left as it is (\"up to date\").  OUTDIR is built under a\n"
            "temporary name and renamed, so an interrupted or failed run leaves the previous\n"
            "OUTDIR (or none).\n"
            "\n" SQ_HELP_EXIT_STATUS);
}

enum { OPT_MAX_SEQ = 256, OPT_STRIDE, OPT_MAX_QUERY, OPT_SHARD, OPT_LEVEL };

int main(int argc, char **argv) {
    sq_tool_init("sq-pack");
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"max-seq", required_argument, NULL, OPT_MAX_SEQ},
        {"doc-stride", required_argument, NULL, OPT_STRIDE},
        {"max-query", required_argument, NULL, OPT_MAX_QUERY},
        {"shard-size", required_argument, NULL, OPT_SHARD},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    pack_config c = {.window = {.max_seq = 384}, .shard_size = 8192, .zstd_level = 1};
    const char *outdir = NULL;
    bool force = false, query_set = false, stride_set = false;
    int opt;
    opterr = 0; /* getopt's own messages do not follow the sq-<tool>: error: form */
    while ((opt = getopt_long(argc, argv, ":o:fqhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': outdir = optarg; break;
        /* Ids and lengths are stored as 16 bits. */
        case OPT_MAX_SEQ: c.window.max_seq = (uint32_t)sq_opt_long("--max-seq", optarg, 4, 65535); break;
        case OPT_STRIDE:
            c.window.stride = (uint32_t)sq_opt_long("--doc-stride", optarg, 0, 65535);
            stride_set = true;
            break;
        case OPT_MAX_QUERY:
            c.window.max_query = (uint32_t)sq_opt_long("--max-query", optarg, 1, 65535);
            query_set = true;
            break;
        case OPT_SHARD: c.shard_size = (uint32_t)sq_opt_long("--shard-size", optarg, 1, 1 << 20); break;
        case OPT_LEVEL: c.zstd_level = (int)sq_opt_long("--level", optarg, 1, 19); break;
        case 'f': force = true; break;
        case 'q': sq_quiet = true; break;
        case 'h': usage(stdout); return SQ_EXIT_OK;
        case 'V': sq_print_version(); return SQ_EXIT_OK;
        default: sq_die_option(opt, argv, opts);
        }
    }
    if (optind == argc) sq_die_usage("missing INPUT.sqt");
    if (argc - optind > 1) sq_die_usage("one INPUT.sqt at a time (got %d)", argc - optind);
    if (!outdir) sq_die_usage("missing -o OUTDIR");
    pack_options_defaults(&c.window, query_set, stride_set);
    const char *bad = pack_options_check(&c.window);
    if (bad)
        sq_die_usage("--max-seq %u, --doc-stride %u, --max-query %u: %s", c.window.max_seq, c.window.stride,
                     c.window.max_query, bad);
    const char *input = argv[optind];
    if (sq_file_expect(input, SQ_FILE_BIT(SQ_FILE_TOKENS), "sq-pack", "a tokens file from sq-tokenize"))
        sq_die_lib();
    double t0 = sq_now();

    char *buf;
    size_t len;
    pack_input in;
    if (sq_read_file(input, MAX_INPUT, &buf, &len) || sq_sha256(buf, len, in.sha256)) sq_die_lib();
    in.bytes = len;

    char why[1024];
    pack_reuse r;
    if (pack_reuse_check(outdir, &c, &in, why, sizeof why, &r)) sq_die_lib();
    if (r == PACK_UP_TO_DATE && !force) {
        sq_info("%s is up to date (same input and options); nothing to do", outdir);
        free(buf);
        return SQ_EXIT_OK;
    }
    if (r == PACK_DIFFERENT && !force)
        sq_die("%s: holds features built with %s; use --force to replace them", outdir, why);
    if (r == PACK_DAMAGED) sq_info("%s cannot be reused (%s); rebuilding it", outdir, why);

    sq_tokens *t;
    int rc = sq_tokens_readb(input, buf, len, &t);
    free(buf);
    if (rc) sq_die_lib();

    char *tmp = sq_dir_begin(outdir);
    if (!tmp) sq_die_lib();
    pack_stats st;
    if (pack_write(tmp, t, &c, &in, &st) || sq_dir_commit(tmp, outdir)) {
        sq_err_ctx("%s", outdir);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sq_errmsg());
        sq_rmtree(tmp);
        sq_die("%s", msg);
    }
    free(tmp);
    sq_tokens_free(t);

    double mean = st.features ? (double)st.tokens / st.features : 0;
    double pad = st.features ? 1 - (double)st.tokens / ((double)st.features * c.window.max_seq) : 0;
    sq_info("%llu examples, %llu features, %llu tokens: mean length %.1f, max %u; padding %.1f%% of a padded "
            "%u-token batch; %u questions cut to %u tokens; %u shard%s in %s (%.2f s)",
            (unsigned long long)st.examples, (unsigned long long)st.features, (unsigned long long)st.tokens, mean,
            st.max_len, 100 * pad, c.window.max_seq, st.truncated_questions, c.window.max_query, st.shards,
            st.shards == 1 ? "" : "s", outdir, sq_now() - t0);
    return SQ_EXIT_OK;
}
