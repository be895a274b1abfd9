/* sq-train predict: start and end logits of every feature, for sq-eval.
 * Batches are padded to their longest feature; padded positions (and those
 * past max_seq) are -inf, so they are never chosen.  Ends with one summary
 * line (none with -q). */
#include "core/backend.h"
#include "cmd/commands.h"
#include "cmd/device_opts.h"
#include "cmd/input_kind.h"
#include "core/loader.h"

#include "sq/cli.h"
#include "sq/error.h"
#include "sq/hash.h"
#include "sq/safetensors.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: sq-train predict --init MODEL [--config C] --data FEATDIR -o LOGITS.safetensors\n"
    "                        [--batch-size N] [--device cpu|cuda] [--threads N]\n"
    "                        [--precision bf16|fp32] [--padded] [-q]\n"
    "Writes start_logits and end_logits, float32 [features, max_seq], -inf past each\n"
    "feature's length, for sq-eval --logits.  MODEL: an HF model folder or a .safetensors /\n"
    ".index.json file with a qa_outputs head.  -q: no summary line.\n"
    "\n"
    "Exit status: 0 written, 1 bad input, 2 bad usage.\n";

int sq_cmd_predict(int argc, char **argv) {
    const char *init = NULL, *config = NULL, *data = NULL, *out = NULL, *device = sq_default_device();
    long batch = 32, threads = 0;
    enum { O_INIT = 256, O_CONFIG, O_DATA, O_BATCH, O_DEV, O_THR, O_PREC, O_PADDED };
    static const struct option opts[] = {
        {"init", 1, 0, O_INIT}, {"config", 1, 0, O_CONFIG}, {"data", 1, 0, O_DATA}, {"output", 1, 0, 'o'},
        {"batch-size", 1, 0, O_BATCH}, {"device", 1, 0, O_DEV}, {"threads", 1, 0, O_THR},
        {"precision", 1, 0, O_PREC}, {"padded", 0, 0, O_PADDED}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},
        {"version", 0, 0, 'V'}, {0}};
    const char *precision = NULL;
    bool padded = false;
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
        switch (c) {
        case O_INIT: init = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_DATA: data = optarg; break;
        case 'o': out = optarg; break;
        case O_BATCH: batch = sq_opt_long("--batch-size", optarg, 1, 1 << 16); break;
        case O_DEV: device = optarg; break;
        case O_PREC: precision = optarg; break;
        case O_PADDED: padded = true; break;
        case O_THR: threads = sq_opt_long("--threads", optarg, 1, 4096); break;
        case 'q': sq_quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': sq_print_version(); return 0;
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (!init || !data || !out) sq_die_usage("predict needs --init, --data and -o");
    if (strcmp(device, "cpu") && strcmp(device, "cuda"))
        sq_die_usage("--device: \"%s\" is not cpu or cuda", device);
    sq_device_options(device, precision, padded);
    sq_train_set_threads((int)threads);
    if (sq_check_input("--data", data, SQ_WANT_FEATURES) || sq_check_input("--init", init, SQ_WANT_WEIGHTS) ||
        (config && sq_check_input("--config", config, SQ_WANT_CONFIG)))
        sq_die_lib();
    double t0 = sq_now();

    sq_features *feat;
    if (sq_features_open(data, &feat) || sq_features_load_all(feat)) sq_die_lib();
    const sq_features_info *info = sq_features_info_get(feat);
    size_t n = sq_features_count(feat);
    if (!n) sq_die("%s: no features", data);
    sq_bert_config cfg;
    if (sq_model_config_for(init, config, &cfg)) sq_die_lib();
    int S = info->max_seq, max_T = (int)(info->max_len ? info->max_len : (uint32_t)S);
    if (max_T > cfg.max_position || max_T > S)
        sq_die("%s: features of %d tokens exceed max_position_embeddings %d or max_seq %d", data, max_T,
               cfg.max_position, S);
    if (info->vocab_size > (uint32_t)cfg.vocab_size)
        sq_die("%s: the features' vocabulary (%u) is larger than the model's (%d)", data, info->vocab_size,
               cfg.vocab_size);
    sq_model *m;
    sq_load_info li;
    if (sq_model_new(&cfg, false, &m) || sq_model_load_hf(m, init, 0, &li)) sq_die_lib();
    if (li.qa_initialised) sq_die("%s: no qa_outputs: not a question-answering model", init);
    if (sq_load_info_notable(&li)) {
        char line[512];
        sq_load_info_format(&li, line, sizeof line);
        sq_info("%s: %s", init, line);
    }
    if ((size_t)batch > n) batch = (long)n;
    sq_loader_cfg lc = {feat, 0, batch, 1, 0, 1, false, 0, sq_steps_per_epoch(n, batch)};
    sq_backend *be;
    sq_loader *ld;
    float *start = sq_malloc(n * (size_t)S * sizeof(float)), *end = sq_malloc(n * (size_t)S * sizeof(float));
    float *bstart = sq_malloc((size_t)batch * max_T * sizeof(float));
    float *bend = sq_malloc((size_t)batch * max_T * sizeof(float));
    if (!start || !end || !bstart || !bend) sq_die_lib();
    if (sq_backend_open(device, m, (int)batch, max_T, &be) || be->push(be, SQ_BUF_PARAMS)) sq_die_lib();
    if (sq_loader_open(&lc, &ld)) sq_die_lib();
    for (long s = 0; s < lc.end_step; s++) {
        const sq_batch *b;
        long step;
        int micro;
        if (sq_loader_next(ld, &b, &step, &micro)) sq_die("%s: %s", data, sq_errmsg());
        if (be->forward(be, b, false, NULL) || be->logits(be, bstart, bend)) sq_die_lib();
        for (int r = 0; r < b->B; r++) {
            float *so = start + (size_t)b->sample[r] * S, *eo = end + (size_t)b->sample[r] * S;
            for (int t = 0; t < S; t++) {
                so[t] = t < b->T ? bstart[(size_t)r * b->T + t] : -INFINITY;
                eo[t] = t < b->T ? bend[(size_t)r * b->T + t] : -INFINITY;
            }
        }
    }
    char hex[65] = "", p[4200];
    uint8_t h[32];
    snprintf(p, sizeof p, "%s/manifest.json", data);
    if (!sq_sha256_file(p, h)) sq_hex(h, 32, hex);
    int64_t shape[2] = {(int64_t)n, S};
    sq_stw *w = sq_stw_new();
    if (!w || sq_stw_meta(w, "format", "pt") || sq_stw_meta(w, "data_manifest_sha256", hex) ||
        sq_stw_add(w, "start_logits", SQ_F32, 2, shape, start) || sq_stw_add(w, "end_logits", SQ_F32, 2, shape, end) ||
        sq_stw_write(w, out))
        sq_die_lib();
    sq_stw_free(w);
    double dt = sq_now() - t0;
    sq_info("wrote %s: logits of %zu features in %.1f s (%.1f features/s, %s %s)", out, n, dt, dt > 0 ? (double)n / dt : 0,
            device, precision ? precision : strcmp(device, "cuda") ? "fp32" : "bf16");
    sq_loader_close(ld);
    be->free(be);
    sq_model_free(m);
    sq_features_close(feat);
    free(start);
    free(end);
    free(bstart);
    free(bend);
    return 0;
}
