/* sq-train bench: training-step throughput of a backend on synthetic or real
 * batches, as one JSON line (samples/s, real tokens/s, model TFLOP/s on real
 * tokens, MFU against the GPU's dense bf16 peak, peak memory, step-time
 * spread).  bench/gpu.sh runs it beside ../shared/tools/torch_baseline.py;
 * the FLOP count is that script's (the encoder's matmuls and attention,
 * forward and backward = 3x forward), here on each row's real length. */
#include "core/backend.h"
#include "cmd/commands.h"
#include "cuda/cuda_backend.h"
#include "cmd/device_opts.h"
#include "core/loader.h"
#include "core/optim.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/json.h"
#include "sq/philox.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "Usage: sq-train bench [--config bert-base|CONFIG.json] [--batch-size N] [--max-seq N]\n"
    "                      [--data FEATDIR | --synthetic] [--padded] [--steps N] [--warmup-steps N]\n"
    "                      [--device cpu|cuda] [--precision bf16|fp32] [--threads N] [--seed N] [-o FILE]\n"
    "Times training steps (forward, backward, AdamW) of a randomly initialised model and prints\n"
    "one JSON line (also written to FILE with -o).\n"
    "  --config X         bert-base (built in, the default) or an HF config.json\n"
    "  --batch-size N     rows per step (default 32)\n"
    "  --max-seq N        synthetic row length (default 384)\n"
    "  --data FEATDIR     real features (sq-pack), in training order\n"
    "  --synthetic        full-length random rows, as torch_baseline.py (the default)\n"
    "  --padded           cuda: compute padded positions too\n"
    "  --steps N          timed steps (default 20)\n"
    "  --warmup-steps N   untimed steps first (default 3)\n"
    "  -h, --help         this help\n"
    "  -V, --version      version\n"
    "\n"
    "Exit status: 0 measured, 1 bad input, 2 bad usage.\n";

/* bert-base-uncased's config.json */
static const sq_bert_config bert_base = {30522, 768, 12, 12, 3072, 512, 2, 0, 1e-12, 0.02, 0.1, 0.1};

typedef struct {
    const char *config, *data, *device, *precision, *out;
    long batch, max_seq, steps, warmup, threads, seed;
    bool padded;
} bench_opts;

/* One timed step: what explains a slow one is more real tokens than the
 * median's, more time per FLOP computed (a stall), or shapes met for the
 * first time (cuBLASLt heuristic queries). */
typedef struct {
    long step; /* timed step, 0-based */
    double s, tokens, s_per_flop;
    long queries;
} step_rec;
enum { F_TIME, F_TOKENS, F_S_PER_FLOP };

static int cmp_slower(const void *a, const void *b) {
    double x = ((const step_rec *)a)->s, y = ((const step_rec *)b)->s;
    return x > y ? -1 : x < y;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median and the largest of one field over n steps (v: n scratch). */
static void median_max(const step_rec *r, long n, int field, double *v, double *median, double *max) {
    for (long i = 0; i < n; i++) v[i] = field == F_TIME ? r[i].s : field == F_TOKENS ? r[i].tokens : r[i].s_per_flop;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = v[n / 2];
    *max = v[n - 1];
}

static void device_sync(sq_backend *be, bool cuda) {
    if (cuda && sq_cuda_sync && sq_cuda_sync(be)) sq_die_lib();
}

static long heuristic_queries(sq_backend *be, bool cuda) {
    return cuda && sq_cuda_heuristic_queries ? sq_cuda_heuristic_queries(be) : 0;
}

/* Full-length random rows as torch_baseline.py: ids in [1000, 30000), token
 * types 1 from position 64, random answer positions (synthetic_step then
 * sets the step's dropout keys). */
static void synthetic_batch(sq_batch *b, const sq_bert_config *c, int B, int T, uint64_t seed) {
    b->B = B;
    b->T = T;
    int lo = c->vocab_size > 30000 ? 1000 : 1, span = (c->vocab_size > 30000 ? 30000 : c->vocab_size) - lo;
    for (int r = 0; r < B; r++) {
        for (int t = 0; t < T; t++) {
            sq_philox_ctr k = {{(uint32_t)t, (uint32_t)r, 0, 0xFFFFFFFDu}};
            sq_philox_ctr x = sq_philox4x32_10(k, (uint32_t)seed, (uint32_t)(seed >> 32));
            b->ids[(size_t)r * T + t] = lo + (int32_t)(x.v[0] % (uint32_t)span);
            b->types[(size_t)r * T + t] = t >= 64 && c->type_vocab > 1;
            if (t == 0) {
                b->start[r] = (int32_t)(x.v[1] % (uint32_t)T);
                b->end[r] = (int32_t)(x.v[2] % (uint32_t)T);
            }
        }
        b->len[r] = T;
    }
    b->seed = seed;
    b->n_start = b->n_end = B;
    b->hf_padded_logits = false;
}

/* Step s of the synthetic rows: new dropout keys, same tokens. */
static void synthetic_step(sq_batch *b, long step) {
    for (int r = 0; r < b->B; r++) b->sample[r] = (uint32_t)(step * b->B + r);
    b->step = (uint32_t)step;
}

static void parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.config = "bert-base", .device = sq_default_device(), .batch = 32, .max_seq = 384, .steps = 20, .warmup = 3,
                      .seed = 42};
    enum { O_CONFIG = 256, O_BATCH, O_SEQ, O_DATA, O_SYN, O_PADDED, O_STEPS, O_WARM, O_DEV, O_PREC, O_THR, O_SEED };
    static const struct option opts[] = {
        {"config", 1, 0, O_CONFIG}, {"batch-size", 1, 0, O_BATCH}, {"max-seq", 1, 0, O_SEQ},
        {"data", 1, 0, O_DATA}, {"synthetic", 0, 0, O_SYN}, {"padded", 0, 0, O_PADDED},
        {"steps", 1, 0, O_STEPS}, {"warmup-steps", 1, 0, O_WARM}, {"device", 1, 0, O_DEV},
        {"precision", 1, 0, O_PREC}, {"threads", 1, 0, O_THR}, {"seed", 1, 0, O_SEED},
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0}};
    bool synthetic = false;
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:hV", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: o->config = optarg; break;
        case O_BATCH: o->batch = sq_opt_long("--batch-size", optarg, 1, 1 << 16); break;
        case O_SEQ: o->max_seq = sq_opt_long("--max-seq", optarg, 1, 1 << 16); break;
        case O_DATA: o->data = optarg; break;
        case O_SYN: synthetic = true; break;
        case O_PADDED: o->padded = true; break;
        case O_STEPS: o->steps = sq_opt_long("--steps", optarg, 1, 1000000); break;
        case O_WARM: o->warmup = sq_opt_long("--warmup-steps", optarg, 0, 1000000); break;
        case O_DEV: o->device = optarg; break;
        case O_PREC: o->precision = optarg; break;
        case O_THR: o->threads = sq_opt_long("--threads", optarg, 1, 4096); break;
        case O_SEED: o->seed = sq_opt_long("--seed", optarg, 0, 0x7fffffffffffffffL); break;
        case 'o': o->out = optarg; break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': sq_print_version(); exit(0);
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (synthetic && o->data) sq_die_usage("--data and --synthetic exclude each other");
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        sq_die_usage("--device: \"%s\" is not cpu or cuda", o->device);
    sq_device_options(o->device, o->precision, o->padded);
}

int sq_cmd_bench(int argc, char **argv) {
    bench_opts o;
    parse(argc, argv, &o);
    sq_train_set_threads((int)o.threads);

    sq_bert_config cfg = bert_base;
    if (strcmp(o.config, "bert-base") && sq_model_config_for(NULL, o.config, &cfg)) sq_die_lib();
    sq_features *feat = NULL;
    sq_loader *ld = NULL;
    size_t n_features = 0;
    int B = (int)o.batch, T = (int)o.max_seq;
    long total = o.warmup + o.steps;
    if (o.data) {
        // decode every shard now: the timed steps measure training, not first reads
        if (sq_features_open(o.data, &feat) || sq_features_load_all(feat)) sq_die_lib();
        const sq_features_info *info = sq_features_info_get(feat);
        n_features = sq_features_count(feat);
        if (!n_features) sq_die("%s: no features", o.data);
        T = (int)(info->max_len ? info->max_len : (uint32_t)info->max_seq);
        sq_loader_cfg lc = {feat, (uint64_t)o.seed, o.batch, 1, 0, 1, true, 0, total};
        if (sq_loader_open(&lc, &ld)) sq_die_lib();
    }
    if (T > cfg.max_position) sq_die("rows of %d tokens exceed max_position_embeddings %d", T, cfg.max_position);

    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) sq_die_lib();
    sq_model_init(m, (uint64_t)o.seed);
    sq_backend *be;
    if (sq_backend_open(o.device, m, B, T, &be) || be->push(be, SQ_BUF_PARAMS | SQ_BUF_MOMENTS)) sq_die_lib();
    sq_batch syn;
    if (!o.data && sq_batch_alloc(&syn, B, T)) sq_die_lib();
    sq_optim opt;
    sq_optim_defaults(&opt);
    opt.total_steps = total;
    opt.warmup_steps = 0;
    bool cuda = !strcmp(o.device, "cuda");

    /* Shapes first met inside the timed steps would time the backend's
     * per-shape choices, not training (SQ_WARM_SHAPES=0 shows them). */
    int warm_shapes;
    double t_warm = sq_now();
    if (sq_backend_warm(be, B, T, &warm_shapes)) sq_die_lib();
    device_sync(be, cuda);
    t_warm = sq_now() - t_warm;
    /* SQ_DEVICE_NORM=1: the steps' loss and norm stay on the device, read once
     * after the last step (a non-finite norm is still an error) */
    bool deferred = sq_backend_defer_numbers(be);

    step_rec *rec = sq_malloc((size_t)o.steps * sizeof *rec);
    double *v = sq_malloc((size_t)o.steps * sizeof *v);
    if (!rec || !v) sq_die_lib();
    long queries = 0;
    double samples = 0, tokens = 0, flops = 0, t_all = 0, t_prev = 0;
    if (!ld) synthetic_batch(&syn, &cfg, B, T, (uint64_t)o.seed);
    /* A step's time is the period from the end of the previous one, device
     * and host together, with the device synced only before the first timed
     * step and after the last, as torch_baseline.py times its loop: the
     * host's work for a step (the batch, staging it) overlaps the device's
     * for the previous one, as in training. */
    for (long s = 0; s < total; s++) {
        if (s == o.warmup) {
            device_sync(be, cuda);
            t_prev = sq_now();
        }
        const sq_batch *b = &syn;
        if (ld) {
            long bs;
            int micro;
            if (sq_loader_next(ld, &b, &bs, &micro)) sq_die("%s: %s", o.data, sq_errmsg());
        } else {
            synthetic_step(&syn, s); /* the same rows each step, as torch_baseline.py's */
        }
        long q0 = heuristic_queries(be, cuda);
        double loss, lr, gn;
        if (be->zero_grads(be) || be->forward(be, b, true, &loss) || be->backward(be, b, NULL) ||
            sq_optimizer_step(be, &opt, s, &lr, &gn))
            sq_die_lib();
        if (s < o.warmup) continue;
        if (s == total - 1 && deferred && sq_optimizer_read(be, &loss, &gn)) sq_die_lib();
        if (s == total - 1) device_sync(be, cuda);
        double now = sq_now(), dt = now - t_prev;
        t_prev = now;
        long q = heuristic_queries(be, cuda) - q0;
        double real = 0, work = 0;
        bool full = !cuda || o.padded; /* the CPU and --padded compute B x T */
        t_all += dt;
        samples += b->B;
        for (int r = 0; r < b->B; r++) {
            real += b->len[r];
            flops += sq_model_row_flops(&cfg, b->len[r]);
            work += sq_model_row_flops(&cfg, full ? b->T : b->len[r]);
        }
        tokens += real;
        queries += q;
        rec[s - o.warmup] = (step_rec){s - o.warmup, dt, real, dt / work, q};
    }

    double median, slowest, tok_median, tok_max, spf_median, spf_max, tflops = flops / t_all / 1e12;
    median_max(rec, o.steps, F_TIME, v, &median, &slowest);
    median_max(rec, o.steps, F_TOKENS, v, &tok_median, &tok_max);
    median_max(rec, o.steps, F_S_PER_FLOP, v, &spf_median, &spf_max);
    qsort(rec, (size_t)o.steps, sizeof *rec, cmp_slower);
    json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "device",
                          o.device, "precision", cuda ? (o.precision ? o.precision : "bf16") : "fp32", "config",
                          o.config, "padded", o.padded, "data", o.data ? o.data : "synthetic", "batch_size",
                          (json_int_t)B, "max_seq", (json_int_t)T, "steps", (json_int_t)o.steps, "samples_per_s",
                          samples / t_all, "real_tokens_per_s", tokens / t_all, "model_tflops", tflops,
                          "step_ms_median", median * 1e3, "step_ms_max", slowest * 1e3, "step_max_over_median",
                          slowest / median);
    if (!j) sq_die("cannot build the result");
    if (n_features) json_object_set_new(j, "epoch_s", json_real((double)n_features / (samples / t_all)));
    json_object_set_new(j, "tokens_max_over_median", json_real(tok_max / tok_median));
    json_object_set_new(j, "work_normalised_max_over_median", json_real(spf_max / spf_median));
    json_t *slow = json_array();
    for (long i = 0; i < o.steps && i < 3; i++)
        json_array_append_new(slow, json_pack("{s:I, s:f, s:I, s:I}", "step", (json_int_t)rec[i].step, "ms",
                                              rec[i].s * 1e3, "tokens", (json_int_t)rec[i].tokens, "new_shapes",
                                              (json_int_t)rec[i].queries));
    json_object_set_new(j, "slowest_steps", slow);
    json_object_set_new(j, "warm_shapes", json_integer(warm_shapes));
    json_object_set_new(j, "warm_s", json_real(t_warm));
    json_object_set_new(j, "heuristic_queries", json_integer(queries));
    if (cuda && sq_cuda_get_info) {
        sq_cuda_info info;
        if (sq_cuda_get_info(be, &info)) sq_die_lib();
        json_object_set_new(j, "gpu", json_string(info.name));
        json_object_set_new(j, "peak_bf16_tflops", json_real(info.peak_bf16_tflops));
        json_object_set_new(j, "mfu", info.peak_bf16_tflops > 0 ? json_real(tflops / info.peak_bf16_tflops) : json_null());
        json_object_set_new(j, "peak_mem_gib", json_real((double)info.bytes_allocated / 1073741824.0));
        json_object_set_new(j, "device_mem_used_gib", json_real((double)info.device_bytes_used / 1073741824.0));
        /* the candidate versions in effect (docs/cuda.md, "Switches"): "" for the defaults */
        json_object_set_new(j, "switches", json_string(info.switches));
        json_object_set_new(j, "bgrad_fused", json_integer(info.bgrad_fused));
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        json_object_set_new(j, "mfu", json_null()); /* no dense bf16 peak for a CPU */
        json_object_set_new(j, "peak_mem_gib", json_real((double)ru.ru_maxrss * 1024.0 / 1073741824.0));
    }
    char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!line) sq_die("cannot format the result");
    printf("%s\n", line);
    if (o.out) {
        size_t n = strlen(line);
        line[n] = '\n'; /* json_dumps leaves room for the NUL, which we replace */
        if (sq_write_file_atomic(o.out, line, n + 1)) sq_die_lib();
    }
    free(line);
    free(v);
    free(rec);
    if (!o.data) sq_batch_free(&syn);
    sq_loader_close(ld);
    be->free(be);
    sq_model_free(m);
    if (feat) sq_features_close(feat);
    return 0;
}
