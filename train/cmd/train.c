/* sq-train (training): the loop of HF Trainer for run_qa on sq's feature
 * directories: shuffled epochs, global batches cut into micro-batches,
 * AdamW with linear warm-up and decay, clipping, checkpoints, resume, and
 * on SIGUSR1/SIGTERM a checkpoint and exit 75 (Slurm requeue). */
#include "core/backend.h"
#include "core/checkpoint.h"
#include "cmd/commands.h"
#include "cuda/cuda_backend.h"
#include "cmd/dev_eval.h"
#include "dist/dist.h"
#include "cmd/device_opts.h"
#include "core/loader.h"
#include "report/metrics.h"
#include "core/optim.h"
#include "report/trace.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/hash.h"
#include "sq/json.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { SQ_EXIT_REQUEUE = 75 };

static const char usage[] =
    "usage: sq-train --data FEATDIR (--init MODEL | --config CONFIG.json) -o RUNDIR [options]\n"
    "       sq-train predict --help | sq-train replay --help | sq-train bench --help\n"
    "Fine-tunes BertForQuestionAnswering on a feature directory (sq-pack) and writes\n"
    "RUNDIR/model.safetensors and RUNDIR/config.json (HF from_pretrained loads RUNDIR).\n"
    "  --data FEATDIR          training features\n"
    "  --init MODEL            HF checkpoint (.safetensors); config from --config, a config.json\n"
    "                          beside it, or its metadata\n"
    "  --config FILE           HF config.json; without --init, weights are initialised from --seed\n"
    "  --eval-data FEATDIR     dev features, predicted after each epoch (needs --eval-dataset)\n"
    "  --eval-dataset FILE     the SQuAD JSON the dev features came from, for EM/F1\n"
    "  -o, --output RUNDIR     run directory (must not hold a run unless --resume)\n"
    "  --epochs N              epochs (default 2)\n"
    "  --max-steps N           optimizer steps instead of --epochs\n"
    "  --batch-size N          global batch: samples per optimizer step (default 32)\n"
    "  --grad-accum N          micro-batches per step and rank (default 1)\n"
    "  --lr X                  peak learning rate (default 3e-5)\n"
    "  --warmup F              warm-up as a fraction of the steps (default 0.1)\n"
    "  --warmup-steps N        warm-up in steps\n"
    "  --weight-decay X        AdamW decay, not on biases and LayerNorm (default 0.01)\n"
    "  --max-grad-norm X       clip the global gradient norm (default 1.0; 0: no clipping)\n"
    "  --hidden-dropout P      override the config's hidden_dropout_prob\n"
    "  --attention-dropout P   override the config's attention_probs_dropout_prob\n"
    "  --seed N                initialisation, shuffle and dropout (default 42)\n"
    "  --device cpu|cuda       backend (default: cuda when a GPU is present, else cpu)\n"
    "  --precision bf16|fp32   cuda: bf16 matmul inputs (default) or fp32 throughout\n"
    "  --padded                cuda: compute padded positions too (default: real tokens only)\n"
    "  --threads N             CPU threads (default: all)\n"
    "  --strategy S            single, ddp, zero1, zero2 or fsdp (default: single for one process,\n"
    "                          else ddp); ranks come from mpirun, srun or SQ_RANK/SQ_WORLD_SIZE\n"
    "  --comm nccl|mpi         collectives (default nccl on cuda, mpi on cpu)\n"
    "  --bucket-mb X           ddp/zero2 gradient bucket size (default 25)\n"
    "  --rendezvous PATH       file for the NCCL id when no MPI launcher started the ranks\n"
    "  --checkpoint-every N    checkpoint every N steps (default 0: only on a signal)\n"
    "  --resume                continue from RUNDIR's newest checkpoint\n"
    "  --log-every N           metrics.jsonl line every N steps (default 10)\n"
    "  --profile[=STEPS]       trace STEPS steps (default 5) after 3 warm-up steps to RUNDIR/trace.json\n"
    "  -q, --quiet             no progress output\n"
    "SIGUSR1 or SIGTERM: finish the step, checkpoint, exit 75.\n"
    "Environment (cuda, for comparisons): SQ_WARM_SHAPES=0 skips the warm-up of batch shapes\n"
    "before the first step; SQ_ATTN_VERSION=1|2 picks another attention kernel; SQ_LT_CACHE=0\n"
    "asks cuBLASLt's heuristic on every matmul; SQ_PEAK_TFLOPS sets the peak MFU is against.\n";

typedef struct {
    const char *data, *eval_data, *eval_dataset, *init, *config, *out, *device, *precision;
    long epochs, max_steps, batch, accum, warmup_steps, seed, threads, ckpt_every, log_every, profile;
    double lr, warmup, wd, clip, hdrop, adrop;
    bool resume, quiet, padded;
    int world, rank;
    sq_dist_opts dist;
} train_opts;

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void parse(int argc, char **argv, train_opts *o) {
    *o = (train_opts){.device = sq_default_device(), .epochs = 2, .max_steps = -1, .batch = 32, .accum = 1, .warmup_steps = -1,
                      .seed = 42, .log_every = 10, .lr = 3e-5, .warmup = 0.1, .wd = 0.01, .clip = 1.0,
                      .hdrop = -1, .adrop = -1, .world = 1};
    enum { O_DATA = 256, O_STRATEGY, O_COMM, O_BUCKET, O_RDV, O_EDATA, O_EDS, O_INIT, O_CONFIG, O_EPOCHS, O_MAXSTEPS,
           O_BATCH, O_ACCUM, O_LR, O_WARMUP, O_WSTEPS, O_WD, O_CLIP, O_HD, O_AD, O_SEED, O_DEV, O_THR, O_CKPT,
           O_RESUME, O_LOG, O_PROF, O_PREC, O_PADDED };
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA}, {"eval-data", 1, 0, O_EDATA}, {"eval-dataset", 1, 0, O_EDS},
        {"init", 1, 0, O_INIT}, {"config", 1, 0, O_CONFIG}, {"output", 1, 0, 'o'}, {"epochs", 1, 0, O_EPOCHS},
        {"max-steps", 1, 0, O_MAXSTEPS}, {"batch-size", 1, 0, O_BATCH}, {"grad-accum", 1, 0, O_ACCUM},
        {"lr", 1, 0, O_LR}, {"warmup", 1, 0, O_WARMUP}, {"warmup-steps", 1, 0, O_WSTEPS},
        {"weight-decay", 1, 0, O_WD}, {"max-grad-norm", 1, 0, O_CLIP}, {"hidden-dropout", 1, 0, O_HD},
        {"attention-dropout", 1, 0, O_AD}, {"seed", 1, 0, O_SEED}, {"device", 1, 0, O_DEV},
        {"threads", 1, 0, O_THR}, {"checkpoint-every", 1, 0, O_CKPT}, {"resume", 0, 0, O_RESUME},
        {"log-every", 1, 0, O_LOG}, {"profile", 2, 0, O_PROF},
        {"strategy", 1, 0, O_STRATEGY}, {"comm", 1, 0, O_COMM}, {"bucket-mb", 1, 0, O_BUCKET},
        {"rendezvous", 1, 0, O_RDV}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},
        {"version", 0, 0, 'V'}, {"precision", 1, 0, O_PREC}, {"padded", 0, 0, O_PADDED}, {0}};
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: o->data = optarg; break;
        case O_EDATA: o->eval_data = optarg; break;
        case O_EDS: o->eval_dataset = optarg; break;
        case O_INIT: o->init = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case 'o': o->out = optarg; break;
        case O_EPOCHS: o->epochs = sq_opt_long("--epochs", optarg, 1, 100000); break;
        case O_MAXSTEPS: o->max_steps = sq_opt_long("--max-steps", optarg, 1, 1L << 31); break;
        case O_BATCH: o->batch = sq_opt_long("--batch-size", optarg, 1, 1 << 20); break;
        case O_ACCUM: o->accum = sq_opt_long("--grad-accum", optarg, 1, 1 << 20); break;
        case O_LR: o->lr = sq_opt_double("--lr", optarg, 0, 10); break;
        case O_WARMUP: o->warmup = sq_opt_double("--warmup", optarg, 0, 1); break;
        case O_WSTEPS: o->warmup_steps = sq_opt_long("--warmup-steps", optarg, 0, 1L << 31); break;
        case O_WD: o->wd = sq_opt_double("--weight-decay", optarg, 0, 10); break;
        case O_CLIP: o->clip = sq_opt_double("--max-grad-norm", optarg, 0, 1e9); break;
        case O_HD: o->hdrop = sq_opt_double("--hidden-dropout", optarg, 0, 0.99); break;
        case O_AD: o->adrop = sq_opt_double("--attention-dropout", optarg, 0, 0.99); break;
        case O_SEED: o->seed = sq_opt_long("--seed", optarg, 0, 0x7fffffffffffffffL); break;
        case O_DEV: o->device = optarg; break;
        case O_PREC: o->precision = optarg; break;
        case O_PADDED: o->padded = true; break;
        case O_THR: o->threads = sq_opt_long("--threads", optarg, 1, 4096); break;
        case O_CKPT: o->ckpt_every = sq_opt_long("--checkpoint-every", optarg, 0, 1L << 31); break;
        case O_RESUME: o->resume = true; break;
        case O_LOG: o->log_every = sq_opt_long("--log-every", optarg, 1, 1L << 31); break;
        case O_PROF: o->profile = optarg ? sq_opt_long("--profile", optarg, 1, 100000) : 5; break;
        case O_STRATEGY: o->dist.strategy = optarg; break;
        case O_COMM: o->dist.comm = optarg; break;
        case O_BUCKET: o->dist.bucket_mb = sq_opt_double("--bucket-mb", optarg, 1e-6, 1e6); break;
        case O_RDV: o->dist.rendezvous = optarg; break;
        case 'q': o->quiet = true; break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': sq_print_version(); exit(0);
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        sq_die_usage("--device: \"%s\" is not cpu or cuda", o->device);
    if (!o->data) sq_die_usage("--data FEATDIR is required");
    if (!o->out) sq_die_usage("-o RUNDIR is required");
    if (!o->init && !o->config) sq_die_usage("give --init MODEL or --config CONFIG.json");
    if (!!o->eval_data != !!o->eval_dataset) sq_die_usage("--eval-data and --eval-dataset go together");
    sq_device_options(o->device, o->precision, o->padded);
    sq_launch l;
    if (sq_dist_launch(&l)) sq_die_lib();
    o->world = l.world;
    o->rank = l.rank;
    if (o->batch % (o->accum * o->world))
        sq_die_usage("--batch-size %ld is not a multiple of --grad-accum %ld x %d ranks", o->batch, o->accum, o->world);
}

/* RUNDIR must not hold a run unless resuming. */
static void prepare_rundir(const train_opts *o) {
    char p[4200];
    struct stat st;
    if (strlen(o->out) > 4000) sq_die("%s: path too long", o->out);
    snprintf(p, sizeof p, "%s/run.json", o->out);
    bool has_run = !stat(p, &st);
    snprintf(p, sizeof p, "%s/checkpoints", o->out);
    has_run = has_run || !stat(p, &st);
    if (has_run && !o->resume) sq_die("%s: holds a run already (use --resume to continue it)", o->out);
    if (mkdir(o->out, 0755) && errno != EEXIST) sq_die("%s: %s", o->out, strerror(errno));
}

static int write_run_json(const train_opts *o, const sq_model *m, long total, long warmup, size_t n_features) {
    char p[4200], hex[65] = "";
    uint8_t h[32];
    snprintf(p, sizeof p, "%s/manifest.json", o->data);
    if (!sq_sha256_file(p, h)) sq_hex(h, 32, hex);
    char *cfg = sq_config_to_json(&m->cfg);
    json_t *jc = cfg ? json_loads(cfg, 0, NULL) : NULL;
    free(cfg);
    /* What the report's table needs: the precision in force and, under Slurm, the nodes. */
    const char *precision = o->precision ? o->precision : strcmp(o->device, "cuda") ? "fp32" : "bf16";
    const char *nn = getenv("SLURM_JOB_NUM_NODES") ? getenv("SLURM_JOB_NUM_NODES") : getenv("SLURM_NNODES");
    long nodes = nn && atol(nn) > 0 ? atol(nn) : 1;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:f,"
        " s:I, s:s, s:I, s:I, s:I, s:b}, s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:I, s:I, s:o?}",
        "tool", "sq-train", "version", sq_version(), "git_commit", sq_git_commit(), "options", "data", o->data,
        "eval_data", o->eval_data, "eval_dataset", o->eval_dataset, "init", o->init, "config", o->config,
        "output", o->out, "epochs", (json_int_t)o->epochs, "max_steps", (json_int_t)o->max_steps,
        "batch_size", (json_int_t)o->batch, "grad_accum", (json_int_t)o->accum, "lr", o->lr,
        "warmup_steps", (json_int_t)warmup, "warmup", o->warmup, "weight_decay", o->wd, "max_grad_norm", o->clip,
        "hidden_dropout", m->cfg.hidden_dropout, "attention_dropout", m->cfg.attention_dropout,
        "seed", (json_int_t)o->seed, "device", o->device, "threads", (json_int_t)o->threads,
        "checkpoint_every", (json_int_t)o->ckpt_every, "log_every", (json_int_t)o->log_every, "resume", o->resume,
        "data_manifest_sha256", hex, "features", (json_int_t)n_features, "total_steps", (json_int_t)total,
        "world_size", (json_int_t)o->world, "strategy", o->dist.strategy, "precision", precision,
        "padded", o->padded, "nodes", (json_int_t)nodes, "parameters", (json_int_t)m->n_params, "model_config", jc);
    if (!j) return sq_err("cannot build run.json");
    snprintf(p, sizeof p, "%s/run.json", o->out);
    int rc = sq_json_save(p, j, JSON_INDENT(2));
    json_decref(j);
    return rc;
}

static int write_final(const char *rundir, sq_backend *be) {
    char p[4200];
    if (be->pull(be, SQ_BUF_PARAMS)) return -1;
    snprintf(p, sizeof p, "%s/model.safetensors", rundir);
    if (sq_model_save(be->model, be->model->params, p)) return -1;
    char *cfg = sq_config_to_json(&be->model->cfg);
    if (!cfg) return -1;
    snprintf(p, sizeof p, "%s/config.json", rundir);
    size_t n = strlen(cfg);
    cfg[n] = '\n'; /* json_dumps leaves room for the NUL, which we replace */
    int rc = sq_write_file_atomic(p, cfg, n + 1);
    free(cfg);
    return rc;
}

static int checkpoint(const train_opts *o, sq_dist *dist, long step, long total, long spe) {
    sq_ckpt_state s = {step, total, o->batch, spe, (uint64_t)o->seed};
    return sq_dist_checkpoint(dist, o->out, &s);
}

/* The backend's GPU spans go to the --profile trace (rank 0's). */
static sq_trace *open_trace(const train_opts *o, sq_backend *be, long step0) {
    if (!o->profile || o->rank != 0) return NULL; /* one trace.json per run */
    char p[4200];
    snprintf(p, sizeof p, "%s/trace.json", o->out);
    sq_trace *tr = sq_trace_open(p, step0 + 3, o->profile);
    if (!tr || (be->set_trace && be->set_trace(be, tr))) sq_die_lib();
    return tr;
}

/* Detaches the trace from the backend first: it may hold spans for it. */
static int close_trace(sq_trace *tr, sq_backend *be) {
    if (!tr) return 0;
    int rc = be->set_trace ? be->set_trace(be, NULL) : 0;
    return sq_trace_close(tr) || rc ? -1 : 0;
}

/* On a GPU: the dense bf16 peak (FLOP/s, 0 when unknown) for MFU and the
 * device memory the backend holds (GiB; it never grows after creation).
 * Both stay 0 on the CPU, which leaves them out of the metrics. */
static void gpu_facts(const char *device, sq_backend *be, double *peak_flops, double *mem_gib) {
    *peak_flops = *mem_gib = 0;
    sq_cuda_info info;
    if (strcmp(device, "cuda") || !sq_cuda_get_info) return;
    if (sq_cuda_get_info(be, &info)) sq_die_lib();
    *peak_flops = info.peak_bf16_tflops * 1e12;
    *mem_gib = (double)info.bytes_allocated / 1073741824.0;
}

int sq_cmd_train(int argc, char **argv) {
    train_opts o;
    parse(argc, argv, &o);
    sq_quiet = o.quiet;
    sq_train_set_threads((int)o.threads);
    /* The ranks meet before touching RUNDIR, so that none takes another's
     * fresh run.json for an old run. */
    sq_dist *dist;
    if (sq_dist_open(&o.dist, o.device, &dist)) sq_die_lib();
    o.dist.strategy = sq_strategy_name(sq_dist_strategy(dist));
    prepare_rundir(&o);
    if (sq_dist_barrier(dist)) sq_die_lib();

    sq_features *feat;
    /* Every shard read and checked now: a damaged one stops the run before
     * it starts rather than hours into it (they all stay in memory anyway). */
    if (sq_features_open(o.data, &feat) || sq_features_load_all(feat)) sq_die_lib();
    const sq_features_info *info = sq_features_info_get(feat);
    size_t n = sq_features_count(feat);
    if (!n) sq_die("%s: no features", o.data);

    sq_bert_config cfg;
    if (sq_model_config_for(o.init, o.config, &cfg)) sq_die_lib();
    if (o.hdrop >= 0) cfg.hidden_dropout = o.hdrop;
    if (o.adrop >= 0) cfg.attention_dropout = o.adrop;
    int max_T = (int)(info->max_len ? info->max_len : (uint32_t)info->max_seq);
    if (max_T > cfg.max_position)
        sq_die("%s: features of %d tokens exceed max_position_embeddings %d", o.data, max_T, cfg.max_position);
    if (info->vocab_size > (uint32_t)cfg.vocab_size)
        sq_die("%s: the features' vocabulary (%u) is larger than the model's (%d)", o.data, info->vocab_size,
               cfg.vocab_size);
    sq_model *m;
    if (sq_model_new(&cfg, true, &m)) sq_die_lib();
    if (o.init) {
        bool qa_new;
        if (sq_model_load(m, o.init, (uint64_t)o.seed, &qa_new)) sq_die_lib();
        if (qa_new) sq_info("%s: no qa_outputs; initialised as HF does", o.init);
    } else {
        sq_model_init(m, (uint64_t)o.seed);
    }

    long spe = sq_steps_per_epoch(n, o.batch);
    long total = o.max_steps > 0 ? o.max_steps : o.epochs * spe;
    sq_optim opt;
    sq_optim_defaults(&opt);
    opt.lr = o.lr;
    opt.weight_decay = o.wd;
    opt.max_grad_norm = o.clip;
    opt.total_steps = total;
    /* HF TrainingArguments.get_warmup_steps: ceil(ratio * total) */
    opt.warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps : (long)ceil(o.warmup * (double)total);

    long step0 = 0;
    if (o.resume) {
        char *latest;
        if (sq_ckpt_latest(o.out, &latest)) sq_die_lib();
        if (latest) {
            sq_ckpt_state s;
            if (sq_dist_ckpt_load(latest, m, &s)) sq_die_lib();
            if (s.global_batch != o.batch || s.seed != (uint64_t)o.seed || s.total_steps != total)
                sq_die("%s: --batch-size %ld, --seed %ld and %ld total steps differ from the checkpoint's "
                       "(%ld, %llu, %ld)", latest, o.batch, o.seed, total, s.global_batch,
                       (unsigned long long)s.seed, s.total_steps);
            step0 = s.step;
            sq_info("resuming from %s (step %ld of %ld)", latest, step0, total);
            free(latest);
        }
    }

    sq_dev_eval *ev = NULL;
    if (o.eval_data) {
        int eval_T;
        if (sq_dev_eval_open(o.eval_data, o.eval_dataset, &ev, &eval_T)) sq_die_lib();
        if (eval_T > cfg.max_position)
            sq_die("%s: features of %d tokens exceed max_position_embeddings %d", o.eval_data, eval_T,
                   cfg.max_position);
        if (eval_T > max_T) max_T = eval_T;
    }
    sq_loader_cfg lc = {feat, (uint64_t)o.seed, o.batch, o.world, o.rank, (int)o.accum, true, step0, total};
    int max_B = sq_loader_max_rows(&lc);
    sq_backend *be;
    if (sq_backend_open(o.device, m, max_B, max_T, &be)) sq_die_lib();
    if (be->push(be, SQ_BUF_PARAMS | SQ_BUF_MOMENTS)) sq_die_lib();
    if (step0 < total) {
        double t0 = sq_now();
        int shapes;
        if (sq_backend_warm(be, max_B, max_T, &shapes)) sq_die_lib();
        if (shapes) sq_info("warm-up: %d batch shapes in %.1f s (SQ_WARM_SHAPES=0 skips it)", shapes, sq_now() - t0);
    }
    if (sq_dist_attach(dist, be, max_B, max_T, o.quiet)) sq_die_lib();
    sq_loader *ld = NULL;
    if (step0 < total && sq_loader_open(&lc, &ld)) sq_die_lib();
    sq_metrics *mt = sq_metrics_open(o.out, o.rank, o.quiet, (int)o.log_every, o.resume);
    if (!mt) sq_die_lib();
    sq_trace *tr = open_trace(&o, be, step0);
    double peak_flops, gpu_gib;
    gpu_facts(o.device, be, &peak_flops, &gpu_gib);

    /* Written once every input has been checked, so that a run refused at
     * the start leaves RUNDIR free for the corrected command. */
    if ((!o.resume || step0 == 0) && o.rank == 0) {
        if (write_run_json(&o, m, total, opt.warmup_steps, n)) sq_die_lib();
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* flops: this rank's model FLOPs (sq_model_row_flops, real tokens): MFU
     * is per GPU, and summing it would change the bytes comm counts. */
    double t_last = sq_now(), samples = 0, tokens = 0, flops = 0;
    for (long s = step0; s < total; s++) {
        sq_trace_step(tr, s);
        double loss = 0, lr, gn;
        if (be->zero_grads(be)) sq_die_lib();
        for (long a = 0; a < o.accum; a++) {
            const sq_batch *b;
            long bs;
            int micro;
            sq_trace_begin(tr, "data");
            if (sq_loader_next(ld, &b, &bs, &micro)) sq_die("%s: %s", o.data, sq_errmsg());
            sq_trace_end(tr, "data");
            double l;
            sq_trace_begin(tr, "forward");
            if (sq_dist_forward(dist, b, &l)) sq_die_lib();
            sq_trace_end(tr, "forward");
            sq_trace_begin(tr, "backward");
            if (sq_dist_backward(dist, b, a + 1 == o.accum)) sq_die_lib();
            sq_trace_end(tr, "backward");
            loss += l;
            samples += b->B;
            for (int i = 0; i < b->B; i++) {
                tokens += b->len[i];
                flops += sq_model_row_flops(&cfg, b->len[i]);
            }
        }
        sq_trace_begin(tr, "optimizer");
        if (sq_dist_step(dist, &opt, s, &loss, &lr, &gn)) sq_die_lib();
        sq_trace_end(tr, "optimizer");
        double now = sq_now(), dt = now - t_last > 1e-9 ? now - t_last : 1e-9;
        double job[2] = {samples, tokens}; /* every rank's */
        if (sq_dist_sum(dist, job, 2)) sq_die_lib();
        sq_step_metrics sm = {.step = s + 1, .total_steps = total, .epoch = (double)(s + 1) / (double)spe,
                              .loss = loss, .lr = lr, .grad_norm = gn, .samples_per_s = job[0] / dt,
                              .tokens_per_s = job[1] / dt, .mfu = peak_flops > 0 ? flops / dt / peak_flops : 0,
                              .gpu_mem_gib = gpu_gib};
        sq_dist_take_stats(dist, &sm.comm_bytes, &sm.comm_s);
        if (sq_metrics_step(mt, &sm)) sq_die_lib();
        if ((s + 1) % o.log_every == 0) {
            t_last = now;
            samples = tokens = flops = 0;
        }
        bool last = s + 1 == total;
        if (ev && ((s + 1) % spe == 0 || last)) { /* after each epoch, and at the end */
            double em, f1;
            if (sq_dist_full_params(dist)) sq_die_lib();
            sq_trace_begin(tr, "eval");
            if (sq_dev_eval_run(ev, be, max_B, &em, &f1)) sq_die("%s: %s", o.eval_data, sq_errmsg());
            sq_trace_end(tr, "eval");
            if (sq_metrics_eval(mt, s + 1, (int)((s + spe) / spe), em, f1)) sq_die_lib();
            sq_info("step %ld: dev exact match %.2f, F1 %.2f", s + 1, em, f1);
        }
        int stop; /* the ranks stop at the same step */
        if (sq_dist_any(dist, stop_signal != 0, &stop)) sq_die_lib();
        if (stop || (o.ckpt_every && (s + 1) % o.ckpt_every == 0 && !last)) {
            sq_trace_begin(tr, "checkpoint");
            if (checkpoint(&o, dist, s + 1, total, spe)) sq_die_lib();
            sq_trace_end(tr, "checkpoint");
        }
        if (stop && !last) {
            sq_metrics_close(mt);
            close_trace(tr, be);
            sq_dist_close(dist);
            sq_info("signal %d: checkpoint at step %ld written; exiting for requeue", (int)stop_signal, s + 1);
            exit(SQ_EXIT_REQUEUE);
        }
    }
    if (sq_dist_full_params(dist) || (o.rank == 0 && write_final(o.out, be))) sq_die_lib();
    if (sq_metrics_close(mt)) sq_die_lib();
    if (close_trace(tr, be)) sq_die_lib();
    sq_dev_eval_close(ev);
    sq_loader_close(ld);
    sq_dist_close(dist);
    be->free(be);
    sq_model_free(m);
    sq_features_close(feat);
    return 0;
}
