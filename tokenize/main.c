/* sq-tokenize: SQuAD JSON → tokens file (.sqt), token for token what
 * HuggingFace tokenizers gives for bert-base-uncased (or -cased). */
#include "hf_folder.h"
#include "job.h"
#include "sq/cli.h"
#include "sq/filekind.h"
#include "sq/squad.h"
#include "vocab.h"

#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

static void usage(void) {
    printf("Usage: sq-tokenize [OPTION]... --vocab VOCAB.txt|MODELDIR -o OUT.sqt INPUT.json\n"
           "Tokenizes every context and question of a SQuAD v1.1/v2.0 file with BERT's\n"
           "WordPiece tokenizer, exactly as HuggingFace tokenizers does, and writes a\n"
           "tokens file: per paragraph its text, token ids and code-point offsets; per\n"
           "question its id, text, token ids and answers.  INPUT '-' reads stdin.\n"
           "\n"
           "  --vocab FILE    WordPiece vocabulary, one token per line (required); or an HF\n"
           "                  model folder: its vocab.txt, and its tokenizer_config.json's\n"
           "                  do_lower_case sets the casing\n"
           "  --cased         bert-base-cased setup: no lowercasing, no accent stripping\n"
           "                  (default: bert-base-uncased, or what the model folder says)\n"
           "  --threads N     worker threads (default: all cores); never changes the output\n"
           "  -o, --output F  the tokens file to write (required)\n"
           "  -q, --quiet     no summary line on stderr\n"
           "  -h, --help      show this help and exit\n"
           "  -V, --version   show the version and exit\n"
           "\n"
           "Texts are cleaned as BERT's normalizer does: U+0000, U+FFFD and control\n"
           "characters are dropped (a U+0000 is stored as U+FFFD in the tokens file, which\n"
           "cannot hold it; offsets still count it, so answers map to the original text).\n"
           "OUT.sqt is written under a temporary name and renamed: a failed run leaves none.\n"
           "\n" SQ_HELP_EXIT_STATUS);
}

int main(int argc, char **argv) {
    sq_tool_init("sq-tokenize");
    enum { OPT_VOCAB = 256, OPT_CASED, OPT_THREADS };
    static const struct option opts[] = {
        {"vocab", required_argument, 0, OPT_VOCAB},   {"cased", no_argument, 0, OPT_CASED},
        {"threads", required_argument, 0, OPT_THREADS}, {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},              {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},             {0, 0, 0, 0},
    };
    const char *vocab_path = NULL, *out = NULL;
    bool cased = false;
    int threads = sq_ncpus();
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
        switch (c) {
        case OPT_VOCAB: vocab_path = optarg; break;
        case OPT_CASED: cased = true; break;
        case OPT_THREADS: threads = (int)sq_opt_long("--threads", optarg, 1, 256); break;
        case 'o': out = optarg; break;
        case 'q': sq_quiet = true; break;
        case 'h': usage(); return SQ_EXIT_OK;
        case 'V': sq_print_version(); return SQ_EXIT_OK;
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind != argc - 1) sq_die_usage("expected one INPUT.json, got %d", argc - optind);
    if (!vocab_path) sq_die_usage("--vocab is required");
    if (!out) sq_die_usage("-o OUT.sqt is required");
    const char *input = argv[optind];

    /* Wrong files are named before anything is read or written. */
    if (sq_file_expect(input, SQ_FILE_BIT(SQ_FILE_SQUAD) | SQ_FILE_BIT(SQ_FILE_JSON), "sq-tokenize",
                       "a SQuAD JSON dataset") ||
        sq_file_expect(vocab_path,
                       SQ_FILE_BIT(SQ_FILE_VOCAB) | SQ_FILE_BIT(SQ_FILE_TEXT) | SQ_FILE_BIT(SQ_FILE_DIR) |
                           SQ_FILE_BIT(SQ_FILE_HF_MODEL_DIR),
                       "--vocab", "a WordPiece vocabulary (vocab.txt, one token per line)"))
        sq_die_lib();

    double t0 = sq_now();
    struct stat vs;
    hf_folder folder = {0};
    if (!stat(vocab_path, &vs) && S_ISDIR(vs.st_mode)) {
        if (hf_folder_read(vocab_path, &folder)) sq_die_lib();
        /* The folder's word wins over the default; against --cased it is a
         * mistake (ids of a cased run mean nothing to an uncased model). */
        if (cased && folder.stated && folder.lower)
            sq_die_usage("--cased: %s/tokenizer_config.json says do_lower_case true (an uncased model: leave "
                         "out --cased)", vocab_path);
        if (folder.stated) cased = !folder.lower;
        vocab_path = folder.vocab_path;
    }
    vocab v;
    if (vocab_load(vocab_path, &v)) sq_die_lib();
    sq_squad *s;
    if (sq_squad_load(input, &s)) sq_die_lib();
    job_stats st;
    if (tokenize_squad(s, &v, cased, threads, out, &st)) sq_die_lib();
    if (st.bad_answers) {
        char ids[512];
        size_t n = 0;
        ids[0] = 0;
        for (uint32_t i = 0; i < st.n_bad_ids && n < sizeof ids; i++)
            n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%s", i ? ", " : "", s->questions[st.bad_ids[i]].id);
        sq_warn("%s: %u answer%s whose text is not at answer_start (kept; labels follow answer_start): %s%s",
                input, st.bad_answers, st.bad_answers == 1 ? "" : "s", ids,
                st.bad_answers > st.n_bad_ids ? ", ..." : "");
    }
    sq_info("%s: %u paragraphs, %u questions, %llu context and %llu question tokens in %.2f s",
            out, s->n_paragraphs, s->n_questions, (unsigned long long)st.context_tokens,
            (unsigned long long)st.question_tokens, sq_now() - t0);
    sq_squad_free(s);
    vocab_free(&v);
    hf_folder_free(&folder);
    return SQ_EXIT_OK;
}
