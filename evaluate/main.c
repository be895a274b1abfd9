/* sq-eval: SQuAD's official EM/F1 for a predictions file, or for a model's
 * logits turned into answers as HuggingFace's postprocess_qa_predictions
 * turns them.  Scores go to stdout as one JSON object. */
#include "predictions.h"
#include "pyjson.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/features.h"
#include "sq/filekind.h"
#include "sq/hash.h"
#include "sq/postprocess.h"
#include "sq/safetensors.h"
#include "sq/score.h"
#include "sq/squad.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: sq-eval [OPTION]... --dataset DEV.json --predictions PRED.json [--na-probs NA.json]\n"
            "       sq-eval [OPTION]... --dataset DEV.json --features DIR --logits LOGITS.safetensors [-o PRED.json]\n"
            "Scores answers exactly as SQuAD's official evaluate-v1.1.py / evaluate-v2.0.py do\n"
            "(v2.0 rules when the dataset's version is 2.x or v2.x, as SQuAD 2.0's files write\n"
            "it, or a question is_impossible) and prints the scores as one JSON object on\n"
            "stdout, and a one-line summary on stderr.  With --features and --logits, first\n"
            "turns the model's start_logits/end_logits [features, max_seq] into answers as\n"
            "HuggingFace's postprocess_qa_predictions does.\n"
            "\n"
            "  -d, --dataset FILE            SQuAD JSON with gold answers (- = stdin)\n"
            "  -p, --predictions FILE        {\"question id\": \"answer text\", ...}\n"
            "      --na-probs FILE           v2.0: {\"question id\": no-answer probability}; adds\n"
            "                                best_exact, best_f1 and their thresholds\n"
            "      --na-prob-thresh T        v2.0: predict \"\" where the probability exceeds T (1.0)\n"
            "      --features DIR            feature directory from sq-pack (same dataset)\n"
            "  -l, --logits FILE             safetensors from sq-train predict\n"
            "  -o, --output FILE             write the predictions (HF predictions.json)\n"
            "      --nbest-out FILE          write the n-best lists (HF nbest_predictions.json)\n"
            "      --null-odds-out FILE      v2.0: write null minus best span scores (HF null_odds.json)\n"
            "      --n-best N                candidates per feature and list length (20)\n"
            "      --max-answer-length N     longest answer in tokens (30)\n"
            "      --null-score-diff-threshold T  v2.0: predict \"\" when null - best > T (0.0)\n"
            "  -q, --quiet                   no summary line, no warnings about missing predictions\n"
            "  -h, --help                    show this help and exit\n"
            "  -V, --version                 show the version and exit\n"
            "\n"
            "-f is --force in every sq tool; sq-eval has none, so --features has no short form.\n"
            "The output files are written only once everything is scored, each under a\n"
            "temporary name and renamed: a failed run leaves none of them.\n"
            "\n" SQ_HELP_EXIT_STATUS);
}

_Static_assert(SQ_PP_NO_OFFSET == SQ_NO_OFFSET, "postprocess and feature offsets agree");

enum { OPT_NA = 256, OPT_NA_THRESH, OPT_FEATURES, OPT_NBEST_OUT, OPT_ODDS_OUT, OPT_NBEST, OPT_MAXLEN, OPT_NULL_THRESH };

typedef struct {
    const char *dataset, *predictions, *na_probs, *features, *logits, *output, *nbest_out, *odds_out;
    double na_thresh;
    sq_pp_opts pp;
    bool pp_opts_given;
} options;

static void parse_args(int argc, char **argv, options *o) {
    static const struct option longopts[] = {
        {"dataset", required_argument, NULL, 'd'},
        {"predictions", required_argument, NULL, 'p'},
        {"na-probs", required_argument, NULL, OPT_NA},
        {"na-prob-thresh", required_argument, NULL, OPT_NA_THRESH},
        {"features", required_argument, NULL, OPT_FEATURES},
        {"logits", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"nbest-out", required_argument, NULL, OPT_NBEST_OUT},
        {"null-odds-out", required_argument, NULL, OPT_ODDS_OUT},
        {"n-best", required_argument, NULL, OPT_NBEST},
        {"max-answer-length", required_argument, NULL, OPT_MAXLEN},
        {"null-score-diff-threshold", required_argument, NULL, OPT_NULL_THRESH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.na_thresh = 1.0, .pp = {.n_best = 20, .max_answer_length = 30}};
    opterr = 0; /* getopt's own messages do not follow the sq-<tool>: error: form */
    int c;
    while ((c = getopt_long(argc, argv, ":d:p:l:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->dataset = optarg; break;
        case 'p': o->predictions = optarg; break;
        case OPT_NA: o->na_probs = optarg; break;
        case OPT_NA_THRESH: o->na_thresh = sq_opt_double("--na-prob-thresh", optarg, -1e300, 1e300); break;
        case OPT_FEATURES: o->features = optarg; break;
        case 'l': o->logits = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_NBEST_OUT: o->nbest_out = optarg; break;
        case OPT_ODDS_OUT: o->odds_out = optarg; break;
        case OPT_NBEST:
            o->pp.n_best = (int)sq_opt_long("--n-best", optarg, 1, 10000);
            o->pp_opts_given = true;
            break;
        case OPT_MAXLEN:
            o->pp.max_answer_length = (int)sq_opt_long("--max-answer-length", optarg, 1, 100000);
            o->pp_opts_given = true;
            break;
        case OPT_NULL_THRESH:
            o->pp.null_score_diff_threshold =
                (float)sq_opt_double("--null-score-diff-threshold", optarg, -1e30, 1e30);
            o->pp_opts_given = true;
            break;
        case 'q': sq_quiet = true; break;
        case 'h': usage(stdout); exit(SQ_EXIT_OK);
        case 'V': sq_print_version(); exit(SQ_EXIT_OK);
        default:
            /* sq-eval's -f meant --features once; it is --force in every sq tool now. */
            if (c == '?' && optopt == 'f')
                sq_die_usage("unknown option '-f' (-f is --force in sq tools); write --features DIR");
            sq_die_option(c, argv, longopts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (!o->dataset) sq_die_usage("--dataset is required");
    bool from_logits = o->features || o->logits;
    if (o->predictions && from_logits) sq_die_usage("--predictions excludes --features and --logits");
    if (!o->predictions && !from_logits) sq_die_usage("give --predictions, or --features and --logits");
    if (from_logits && !(o->features && o->logits)) sq_die_usage("--features and --logits go together");
    const char *outs[] = {o->output, o->nbest_out, o->odds_out};
    for (int i = 0; i < 3; i++)
        if (outs[i] && strcmp(outs[i], "-") == 0)
            sq_die_usage("standard output carries the scores: name a file, not '-'");
    if (o->predictions && !strcmp(o->dataset, "-") && !strcmp(o->predictions, "-"))
        sq_die_usage("--dataset and --predictions cannot both read standard input");
    if (!from_logits && (o->output || o->nbest_out || o->odds_out || o->pp_opts_given))
        sq_die_usage("-o, --nbest-out, --null-odds-out, --n-best, --max-answer-length and "
                     "--null-score-diff-threshold need --features and --logits");
}

/* One warning line: how many, and the first few ids. */
static void warn_ids(const sq_squad *s, const char *const *text, uint32_t count, const char *what) {
    if (!count || sq_quiet) return;
    char ids[256] = "";
    size_t used = 0;
    int shown = 0;
    for (uint32_t q = 0; q < s->n_questions && shown < 3; q++) {
        if (text[q]) continue;
        int w = snprintf(ids + used, sizeof ids - used, "%s%s", shown ? ", " : "", s->questions[q].id);
        if (w < 0 || (size_t)w >= sizeof ids - used) break;
        used += (size_t)w;
        shown++;
    }
    sq_warn("%u of %u questions %s and score 0 (%s%s)", count, s->n_questions, what, ids,
            count > (uint32_t)shown ? ", ..." : "");
}

static void print_scores(const sq_scores *sc) {
    char a[32], b[32];
    sq_pyfloat(sc->exact, a);
    sq_pyfloat(sc->f1, b);
    if (!sc->v2) {
        printf("{\"exact_match\": %s, \"f1\": %s}\n", a, b);
        return;
    }
    printf("{\"exact\": %s, \"f1\": %s, \"total\": %u", a, b, sc->total);
    if (sc->has_ans_total) {
        sq_pyfloat(sc->has_ans_exact, a);
        sq_pyfloat(sc->has_ans_f1, b);
        printf(", \"HasAns_exact\": %s, \"HasAns_f1\": %s, \"HasAns_total\": %u", a, b, sc->has_ans_total);
    }
    if (sc->no_ans_total) {
        sq_pyfloat(sc->no_ans_exact, a);
        sq_pyfloat(sc->no_ans_f1, b);
        printf(", \"NoAns_exact\": %s, \"NoAns_f1\": %s, \"NoAns_total\": %u", a, b, sc->no_ans_total);
    }
    if (sc->has_best) {
        sq_pyfloat(sc->best_exact, a);
        sq_pyfloat(sc->best_exact_thresh, b);
        printf(", \"best_exact\": %s, \"best_exact_thresh\": %s", a, b);
        sq_pyfloat(sc->best_f1, a);
        sq_pyfloat(sc->best_f1_thresh, b);
        printf(", \"best_f1\": %s, \"best_f1_thresh\": %s", a, b);
    }
    printf("}\n");
}

/* HF writes json.dumps(obj, indent=4) + "\n". */
static void write_predictions(FILE *f, const sq_squad *s, const sq_pp_result *r) {
    int n = 0;
    fputc('{', f);
    for (uint32_t q = 0; q < s->n_questions; q++) {
        if (!r->answers[q].text) continue;
        fputs(n++ ? ",\n    " : "\n    ", f);
        sq_pystring(f, s->questions[q].id, strlen(s->questions[q].id));
        fputs(": ", f);
        sq_pystring(f, r->answers[q].text, r->answers[q].len);
    }
    fputs(n ? "\n}\n" : "}\n", f);
}

static void write_float_member(FILE *f, const char *key, double v, bool last) {
    char buf[32];
    sq_pyfloat(v, buf);
    fprintf(f, "            \"%s\": %s%s\n", key, buf, last ? "" : ",");
}

static void write_nbest(FILE *f, const sq_squad *s, const sq_pp_result *r) {
    int n = 0;
    fputc('{', f);
    for (uint32_t q = 0; q < s->n_questions; q++) {
        const sq_pp_answer *a = &r->answers[q];
        if (!a->text) continue;
        fputs(n++ ? ",\n    " : "\n    ", f);
        sq_pystring(f, s->questions[q].id, strlen(s->questions[q].id));
        fputs(": [\n", f);
        for (uint32_t i = 0; i < a->n_nbest; i++) {
            const sq_pp_entry *e = &a->nbest[i];
            fputs("        {\n", f);
            /* Key order follows HF's dict edits: the placeholder starts with
             * "text", real spans gain it after their logits. */
            if (e->placeholder) {
                fputs("            \"text\": ", f);
                sq_pystring(f, e->text, e->len);
                fputs(",\n", f);
            }
            write_float_member(f, "start_logit", e->start_logit, false);
            write_float_member(f, "end_logit", e->end_logit, false);
            if (!e->placeholder) {
                fputs("            \"text\": ", f);
                sq_pystring(f, e->text, e->len);
                fputs(",\n", f);
            }
            write_float_member(f, "probability", e->probability, true);
            fputs(i + 1 < a->n_nbest ? "        },\n" : "        }\n", f);
        }
        fputs("    ]", f);
    }
    fputs(n ? "\n}\n" : "}\n", f);
}

static void write_odds(FILE *f, const sq_squad *s, const sq_pp_result *r) {
    int n = 0;
    fputc('{', f);
    for (uint32_t q = 0; q < s->n_questions; q++) {
        if (!r->answers[q].has_score_diff) continue;
        char buf[32];
        sq_pyfloat(r->answers[q].score_diff, buf);
        fputs(n++ ? ",\n    " : "\n    ", f);
        sq_pystring(f, s->questions[q].id, strlen(s->questions[q].id));
        fprintf(f, ": %s", buf);
    }
    fputs(n ? "\n}\n" : "}\n", f);
}

/* The output files: all are written, then all committed, after scoring
 * succeeded, so that a run that fails leaves none of them. */
static void save_all(const options *o, const sq_squad *s, const sq_pp_result *r) {
    const char *paths[] = {o->output, o->nbest_out, o->odds_out};
    void (*writers[])(FILE *, const sq_squad *, const sq_pp_result *) = {write_predictions, write_nbest, write_odds};
    sq_afile *f[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (!paths[i]) continue;
        if (!(f[i] = sq_afile_open(paths[i]))) {
            for (int k = 0; k < i; k++) sq_afile_abort(f[k]);
            sq_die_lib();
        }
        writers[i](sq_afile_fp(f[i]), s, r);
    }
    for (int i = 0; i < 3; i++)
        if (f[i] && sq_afile_commit(f[i])) {
            for (int k = i + 1; k < 3; k++) sq_afile_abort(f[k]);
            sq_die_lib();
        }
}

static float *logits_f32(const sq_st *st, const char *path, const char *name, size_t rows, size_t width) {
    const sq_tensor *t = sq_st_find(st, name);
    if (!t) sq_die("%s: no tensor '%s'", path, name);
    if (t->ndim != 2 || (uint64_t)t->shape[0] != rows || (uint64_t)t->shape[1] != width) {
        char shape[SQ_MAX_DIMS * 24 + 2] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        strcat(shape, "]");
        sq_die("%s: %s has shape %s, the features want [%zu, %zu]", path, name, shape, rows, width);
    }
    if (t->dtype != SQ_F32 && t->dtype != SQ_F16 && t->dtype != SQ_BF16)
        sq_die("%s: %s is %s, not a float tensor", path, name, sq_dtype_name(t->dtype));
    float *x = sq_malloc(rows * width * sizeof *x + 1);
    if (!x) sq_die_lib();
    if (sq_tensor_to_f32(t, x)) sq_die("%s: %s: %s", path, name, sq_errmsg());
    return x;
}

/* Logits -> answers; returns the result that owns the answer texts. */
static sq_pp_result *answers_from_logits(const options *o, const sq_squad *s) {
    sq_features *F;
    if (sq_features_open(o->features, &F)) sq_die_lib();
    const sq_features_info *info = sq_features_info_get(F);
    if (memcmp(info->dataset_sha256, s->sha256, 32)) {
        char want[65], have[65];
        sq_hex(info->dataset_sha256, 32, want);
        sq_hex(s->sha256, 32, have);
        sq_die("%s: built from another dataset (sha256 %.12s..., %s has %.12s...)", o->features, want, o->dataset,
               have);
    }
    size_t n = sq_features_count(F), width = (size_t)info->max_seq;
    sq_st *st;
    if (sq_st_read(o->logits, &st)) sq_die_lib();
    float *start = logits_f32(st, o->logits, "start_logits", n, width);
    float *end = logits_f32(st, o->logits, "end_logits", n, width);
    sq_st_free(st);
    sq_pp_feature *pf = sq_calloc(n + 1, sizeof *pf);
    if (!pf) sq_die_lib();
    for (size_t i = 0; i < n; i++) {
        sq_feature ft;
        if (sq_features_get(F, i, &ft)) sq_die_lib();
        const char *id = sq_features_example_id(F, ft.example);
        long q = id ? sq_squad_find(s, id) : -1;
        if (q < 0) sq_die("%s: feature %zu: question %s is not in %s", o->features, i, id ? id : "(none)", o->dataset);
        pf[i] = (sq_pp_feature){(uint32_t)q, ft.len, ft.offsets};
    }
    sq_pp_opts pp = o->pp;
    pp.v2 = s->v2;
    sq_pp_result *r;
    if (sq_postprocess(s, pf, n, start, end, width, &pp, &r)) sq_die("%s: %s", o->logits, sq_errmsg());
    free(pf);
    free(start);
    free(end);
    sq_features_close(F);
    return r;
}

/* Each input is checked for its kind before any is read, so a mix-up is
 * named ("dev.sqt is a tokens file from sq-tokenize; --dataset wants the
 * SQuAD JSON") instead of failing in a parser. */
static void check_inputs(const options *o) {
    const uint64_t json = SQ_FILE_BIT(SQ_FILE_JSON);
    if (sq_file_expect(o->dataset, SQ_FILE_BIT(SQ_FILE_SQUAD) | json, "--dataset", "the SQuAD JSON") ||
        (o->predictions && sq_file_expect(o->predictions, SQ_FILE_BIT(SQ_FILE_PREDICTIONS) | json, "--predictions",
                                          "a JSON of answers by question id")) ||
        (o->na_probs && sq_file_expect(o->na_probs, SQ_FILE_BIT(SQ_FILE_NUMBERS) | json, "--na-probs",
                                       "a JSON of no-answer probabilities by question id")) ||
        (o->features &&
         sq_file_expect(o->features, SQ_FILE_BIT(SQ_FILE_FEATURES_DIR), "--features", "a feature folder from sq-pack")) ||
        (o->logits && sq_file_expect(o->logits, SQ_FILE_BIT(SQ_FILE_SAFETENSORS), "--logits",
                                     "the logits from sq-train predict (safetensors)")))
        sq_die_lib();
}

/* The closing line: "<dataset>: EM 81.02, F1 88.35 on 10570 questions (SQuAD v1.1 rules)". */
static void summary(const options *o, const sq_squad *s, const sq_scores *sc) {
    char extra[128] = "";
    if (sc->v2 && sc->has_ans_total && sc->no_ans_total)
        snprintf(extra, sizeof extra, "; HasAns F1 %.2f, NoAns F1 %.2f", sc->has_ans_f1, sc->no_ans_f1);
    if (sc->has_best) {
        size_t n = strlen(extra);
        snprintf(extra + n, sizeof extra - n, "; best F1 %.2f at threshold %g", sc->best_f1, sc->best_f1_thresh);
    }
    sq_info("%s: EM %.2f, F1 %.2f on %u questions%s (SQuAD %s rules)%s%s", strcmp(o->dataset, "-") ? o->dataset : "stdin",
            sc->exact, sc->f1, s->n_questions, extra, sc->v2 ? "v2.0" : "v1.1", o->output ? "; predictions in " : "",
            o->output ? o->output : "");
}

int main(int argc, char **argv) {
    sq_tool_init("sq-eval");
    options o;
    parse_args(argc, argv, &o);
    check_inputs(&o);
    sq_squad *s;
    if (sq_squad_load(o.dataset, &s)) sq_die_lib();
    if (o.na_probs && !s->v2)
        sq_die("--na-probs: %s is SQuAD v1.1; no-answer probabilities apply to v2.0", o.dataset);
    if (o.odds_out && !s->v2) sq_die("--null-odds-out: %s is SQuAD v1.1, which has no null answers", o.dataset);

    const char **text = sq_calloc(s->n_questions + 1, sizeof *text);
    size_t *len = sq_calloc(s->n_questions + 1, sizeof *len);
    if (!text || !len) sq_die_lib();
    sq_preds *p = NULL;
    sq_pp_result *r = NULL;
    if (o.predictions) {
        if (sq_preds_load(o.predictions, s, &p)) sq_die_lib();
        if (p->n_unknown && !sq_quiet)
            sq_warn("%s: %u of %u predictions are for questions %s lacks (ignored)", o.predictions, p->n_unknown,
                    p->n_given, o.dataset);
        memcpy(text, p->text, s->n_questions * sizeof *text);
        memcpy(len, p->len, s->n_questions * sizeof *len);
    } else {
        r = answers_from_logits(&o, s);
        for (uint32_t q = 0; q < s->n_questions; q++) {
            text[q] = r->answers[q].text;
            len[q] = r->answers[q].len;
        }
    }

    sq_na_prob *na = NULL;
    size_t n_na = 0;
    if (o.na_probs) {
        uint32_t unknown;
        if (sq_na_probs_load(o.na_probs, s, &na, &n_na, &unknown)) sq_die_lib();
        if (unknown && !sq_quiet)
            sq_warn("%s: %u probabilities are for questions %s lacks (ignored)", o.na_probs, unknown, o.dataset);
    }
    sq_scores sc;
    if (sq_score(s, text, len, na, n_na, o.na_thresh, &sc)) sq_die_lib();
    warn_ids(s, text, sc.missing, o.predictions ? "have no prediction" : "have no feature");
    if (r) save_all(&o, s, r);
    print_scores(&sc);
    if (fflush(stdout) || ferror(stdout)) sq_die("standard output: write error");
    summary(&o, s, &sc);
    free(na);
    free(text);
    free(len);
    sq_preds_free(p);
    sq_pp_free(r);
    sq_squad_free(s);
    return SQ_EXIT_OK;
}
