/* sq-train (training): the loop of HF Trainer for run_qa on sq's feature
 * directories: shuffled epochs, global batches cut into micro-batches,
 * AdamW with linear warm-up and decay, clipping, dev evaluation (after each
 * epoch or every --eval-every steps; --save-best, --early-stop),
 * checkpoints, resume, and on a signal a checkpoint and an exit: 75 after
 * SIGUSR1 or SIGTERM (Slurm requeue), 130 after Ctrl-C (a second Ctrl-C
 * stops at once).  Nothing is created under RUNDIR before every input has
 * been checked. */
#include "core/backend.h"
#include "core/checkpoint.h"
#include "cmd/commands.h"
#include "cuda/cuda_backend.h"
#include "cmd/dev_eval.h"
#include "dist/dist.h"
#include "cmd/device_opts.h"
#include "cmd/input_kind.h"
#include "cmd/resume.h"
#include "cmd/train_opts.h"
#include "core/loader.h"
#include "report/metrics.h"
#include "core/optim.h"
#include "report/trace.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/json.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SQ_EXIT_REQUEUE = 75, SQ_EXIT_INTERRUPTED = 130 };

static const char usage[] =
    "Usage: sq-train --data FEATDIR (--init MODEL | --config CONFIG.json) -o RUNDIR [OPTION]...\n"
    "       sq-train -o RUNDIR --resume [OPTION]...\n"
    "       sq-train predict|replay|bench --help\n"
    "Fine-tunes BertForQuestionAnswering on a feature folder (sq-pack) and writes\n"
    "RUNDIR/model.safetensors and RUNDIR/config.json (HF from_pretrained loads RUNDIR).\n"
    "\n"
    "  --data FEATDIR          training features\n"
    "  --init MODEL            HF model folder (config.json + model.safetensors or its shard\n"
    "                          index), or a .safetensors / .index.json file; any BERT naming\n"
    "                          from_pretrained reads; config from --config, config.json, or metadata\n"
    "  --config FILE           HF config.json; without --init, weights are initialised from --seed\n"
    "  -o, --output RUNDIR     run folder (must not hold a run unless --resume); created once\n"
    "                          every input has been checked\n"
    "  --epochs N              epochs (default 2)\n"
    "  --max-steps N           optimizer steps instead of --epochs; with --resume, a larger value\n"
    "                          adds steps to a run (its schedule then decays to the new total)\n"
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
    "  --eval-data FEATDIR     dev features, evaluated after each epoch and at the end\n"
    "                          (needs --eval-dataset)\n"
    "  --eval-dataset FILE     the SQuAD JSON the dev features came from, for EM/F1\n"
    "  --eval-every N          evaluate every N steps (and at the end) instead\n"
    "  --save-best             keep the model of the best dev F1 in RUNDIR/best/\n"
    "  --early-stop K          stop after K evaluations without a better dev F1\n"
    "  --device cpu|cuda       backend (default: cuda when a GPU is present, else cpu)\n"
    "  --precision bf16|fp32   cuda: bf16 matmul inputs (default) or fp32 throughout\n"
    "  --padded                cuda: compute padded positions too (default: real tokens only)\n"
    "  --threads N             CPU threads (default: all)\n"
    "  --strategy S            single, ddp, zero1, zero2 or fsdp (default: single for one process,\n"
    "                          else ddp); ranks come from mpirun, srun or SQ_RANK/SQ_WORLD_SIZE\n"
    "  --comm nccl|mpi         collectives (default nccl on cuda, mpi on cpu)\n"
    "  --bucket-mb X           ddp/zero2 gradient bucket size (default 25)\n"
    "  --rendezvous PATH       file for the NCCL id when no MPI launcher started the ranks\n"
    "  --checkpoint-every N    checkpoint every N steps (default 0: on a signal and at the end)\n"
    "  --resume                continue RUNDIR from its newest checkpoint with the settings in\n"
    "                          RUNDIR/run.json; options given again must agree with them\n"
    "                          (--threads, --log-every and --checkpoint-every may change)\n"
    "  --log-every N           metrics.jsonl line every N steps (default 10)\n"
    "  --profile[=STEPS]       trace STEPS steps (default 5) after 3 warm-up steps to\n"
    "                          RUNDIR/trace.json; implies -v\n"
    "  -v, --verbose           also the memory each rank holds and the backward time per layer\n"
    "  -q, --quiet             nothing but errors\n"
    "  -h, --help              this help\n"
    "  -V, --version           version\n"
    "\n"
    "HF Trainer / run_qa names are accepted where they mean the same: --learning_rate,\n"
    "--num_train_epochs (whole epochs), --max_steps, --gradient_accumulation_steps,\n"
    "--warmup_ratio, --warmup_steps, --weight_decay, --max_grad_norm, --output_dir,\n"
    "--model_name_or_path, --logging_steps, --save_steps, --eval_steps, --bf16; where the\n"
    "meaning differs they are refused with sq's option (--per_device_train_batch_size:\n"
    "--batch-size is the global batch).\n"
    "\n"
    "Exit status:\n"
    "  0    trained (or the run in RUNDIR was complete already)\n"
    "  1    bad input: one line \"sq-train: error: <what>: <why>\"\n"
    "  2    bad usage\n"
    "  75   SIGUSR1 or SIGTERM: the step finished and a checkpoint written (Slurm's requeue;\n"
    "       --resume continues)\n"
    "  130  Ctrl-C (SIGINT): the same; a second Ctrl-C stops at once, without a checkpoint\n"
    "\n"
    "Environment (cuda, for comparisons): SQ_WARM_SHAPES=0 skips the warm-up of batch shapes\n"
    "before the first step; SQ_ATTN_VERSION=1|2 picks another attention kernel; SQ_LT_CACHE=0\n"
    "asks cuBLASLt's heuristic on every matmul; SQ_PEAK_TFLOPS sets the peak MFU is against.\n"
    "Candidate versions (cuda, off by default until a GPU check shows them correct and faster;\n"
    "docs/cuda.md, \"Switches\"): SQ_BGRAD_EPILOGUE=1 computes bf16 bias gradients in the weight\n"
    "gradients' GEMMs; SQ_MEM_PLAN=1 shares the fp32 LayerNorm outputs as forward scratch;\n"
    "SQ_DEVICE_NORM=1 keeps the loss and the gradient norm on the GPU (read at log steps;\n"
    "--strategy single only); SQ_LT_TOKEN_BUCKETS=1 caches cuBLASLt algorithms by token bucket\n"
    "in the weight-gradient matmuls too.\n";

/* The first signal is the one acted on; a second Ctrl-C ends the process
 * at once (what a user pressing it twice means). */
static volatile sig_atomic_t stop_signal, interrupts, signal_silent;
static void on_signal(int sig) {
    static const char first[] = "sq-train: interrupted: finishing this step and writing a checkpoint "
                                "(Ctrl-C again stops at once, without one)\n";
    static const char second[] = "sq-train: interrupted again: stopped at once\n";
    if (sig == SIGINT && interrupts++) {
        if (!signal_silent) (void)!write(STDERR_FILENO, second, sizeof second - 1);
        _exit(SQ_EXIT_INTERRUPTED);
    }
    if (sig == SIGINT && !signal_silent) (void)!write(STDERR_FILENO, first, sizeof first - 1);
    if (!stop_signal) stop_signal = sig;
}

static void catch_signals(const train_opts *o) {
    signal_silent = o->quiet || o->rank != 0;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void parse(int argc, char **argv, train_opts *o) {
    *o = (train_opts){.epochs = 2, .max_steps = -1, .batch = 32, .accum = 1, .warmup_steps = -1, .seed = 42,
                      .log_every = 10, .lr = 3e-5, .warmup = 0.1, .wd = 0.01, .clip = 1.0, .hdrop = -1,
                      .adrop = -1, .world = 1};
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
        {"rendezvous", 1, 0, O_RDV}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
        {"version", 0, 0, 'V'}, {"precision", 1, 0, O_PREC}, {"padded", 0, 0, O_PADDED},
        {"eval-every", 1, 0, O_EVERY}, {"save-best", 0, 0, O_BEST}, {"early-stop", 1, 0, O_EARLY}, {0}};
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:qvhV", opts, NULL)) != -1) {
        if (c >= O_FIRST && c < O_LAST) o->given |= (uint64_t)1 << (c - O_FIRST); /* for --resume */
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
        case O_EVERY: o->eval_every = sq_opt_long("--eval-every", optarg, 1, 1L << 31); break;
        case O_BEST: o->save_best = true; break;
        case O_EARLY: o->early_stop = sq_opt_long("--early-stop", optarg, 1, 1L << 31); break;
        case 'q': o->quiet = true; break;
        case 'v': o->verbose = true; break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': sq_print_version(); exit(0);
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (!o->out) sq_die_usage("-o RUNDIR is required");
    if (strlen(o->out) > 4000) sq_die("%s: path too long", o->out);
}

/* Once --resume has filled in the run's settings. */
static void check_opts(train_opts *o) {
    if (!o->device) o->device = sq_default_device();
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        sq_die_usage("--device: \"%s\" is not cpu or cuda", o->device);
    if (!o->data && o->resume && !SQ_GIVEN(o, O_INIT) && !SQ_GIVEN(o, O_CONFIG))
        sq_die_usage("%s holds no run to resume (no run.json): give --data and --init or --config to start one", o->out);
    if (!o->data) sq_die_usage("--data FEATDIR is required");
    if (!o->init && !o->config) sq_die_usage("give --init MODEL or --config CONFIG.json");
    if (!!o->eval_data != !!o->eval_dataset) sq_die_usage("--eval-data and --eval-dataset go together");
    if ((o->eval_every || o->save_best || o->early_stop) && !o->eval_data)
        sq_die_usage("--eval-every, --save-best and --early-stop need --eval-data and --eval-dataset");
    sq_device_options(o->device, o->precision, o->padded);
    sq_launch l;
    if (sq_dist_launch(&l)) sq_die_lib();
    o->world = l.world;
    o->rank = l.rank;
    if (o->batch % (o->accum * o->world))
        sq_die_usage("--batch-size %ld is not a multiple of --grad-accum %ld x %d ranks", o->batch, o->accum, o->world);
}

/* Whether RUNDIR holds a run (run.json or checkpoints), read before
 * anything is written. */
static bool holds_run(const char *out, bool *has_run_json) {
    char p[4200];
    struct stat st;
    if (!stat(out, &st) && !S_ISDIR(st.st_mode)) sq_die("%s: exists and is not a folder", out);
    snprintf(p, sizeof p, "%s/run.json", out);
    *has_run_json = !stat(p, &st);
    snprintf(p, sizeof p, "%s/checkpoints", out);
    return *has_run_json || !stat(p, &st);
}

static const char *precision_of(const train_opts *o) {
    return o->precision ? o->precision : strcmp(o->device, "cuda") ? "fp32" : "bf16";
}

static int write_run_json(const train_opts *o, const sq_model *m, long total, long warmup, size_t n_features) {
    char p[4200], hex[65], eval_hex[65] = "";
    sq_features_hash(o->data, hex);
    if (o->eval_data) sq_features_hash(o->eval_data, eval_hex);
    char *cfg = sq_config_to_json(&m->cfg);
    json_t *jc = cfg ? json_loads(cfg, 0, NULL) : NULL;
    free(cfg);
    /* What the report's table needs: the precision in force and, under Slurm, the nodes. */
    const char *nn = getenv("SLURM_JOB_NUM_NODES") ? getenv("SLURM_JOB_NUM_NODES") : getenv("SLURM_NNODES");
    long nodes = nn && atol(nn) > 0 ? atol(nn) : 1;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:f,"
        " s:I, s:s, s:I, s:I, s:I, s:b, s:I, s:b, s:I}, s:s, s:s?, s:I, s:I, s:I, s:s, s:s, s:b, s:I, s:I, s:o?}",
        "tool", "sq-train", "version", sq_version(), "git_commit", sq_git_commit(), "options", "data", o->data,
        "eval_data", o->eval_data, "eval_dataset", o->eval_dataset, "init", o->init, "config", o->config,
        "output", o->out, "epochs", (json_int_t)o->epochs, "max_steps", (json_int_t)o->max_steps,
        "batch_size", (json_int_t)o->batch, "grad_accum", (json_int_t)o->accum, "lr", o->lr,
        "warmup_steps", (json_int_t)warmup, "warmup", o->warmup, "weight_decay", o->wd, "max_grad_norm", o->clip,
        "hidden_dropout", m->cfg.hidden_dropout, "attention_dropout", m->cfg.attention_dropout,
        "seed", (json_int_t)o->seed, "device", o->device, "threads", (json_int_t)o->threads,
        "checkpoint_every", (json_int_t)o->ckpt_every, "log_every", (json_int_t)o->log_every, "resume", o->resume,
        "eval_every", (json_int_t)o->eval_every, "save_best", o->save_best, "early_stop", (json_int_t)o->early_stop,
        "data_manifest_sha256", hex, "eval_data_manifest_sha256", o->eval_data ? eval_hex : NULL,
        "features", (json_int_t)n_features, "total_steps", (json_int_t)total,
        "world_size", (json_int_t)o->world, "strategy", o->dist.strategy, "precision", precision_of(o),
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


/* RUNDIR/best/: the model of the best dev F1 so far, loadable as RUNDIR is
 * (model.safetensors, config.json), with eval.json saying which step and
 * scores it holds; built aside and swapped in whole. */
static int save_best(const char *rundir, sq_backend *be, long step, double epoch, double em, double f1) {
    char final[4200], p[4400];
    snprintf(final, sizeof final, "%s/best", rundir);
    char *tmp = sq_dir_begin(final);
    if (!tmp) return -1;
    json_t *j = json_pack("{s:I, s:f, s:f, s:f}", "step", (json_int_t)step, "epoch", epoch, "exact_match", em, "f1", f1);
    snprintf(p, sizeof p, "%s/eval.json", tmp);
    int rc = !j ? sq_err("cannot build eval.json") : 0;
    if (!rc) rc = write_final(tmp, be) || sq_json_save(p, j, JSON_INDENT(2)) || sq_dir_commit(tmp, final) ? -1 : 0;
    json_decref(j);
    if (rc) sq_rmtree(tmp);
    free(tmp);
    return rc;
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


/* The one line that says what is trained, on what, for how long, where. */
static void start_line(const train_opts *o, const sq_model *m, const char *latest, size_t n, long step0, long total,
                       long spe) {
    if (o->rank != 0) return;
    char from[4200], ranks[64] = "";
    if (latest)
        snprintf(from, sizeof from, "resumed from %s", latest);
    else if (o->init)
        snprintf(from, sizeof from, "from %s", o->init);
    else
        snprintf(from, sizeof from, "from scratch, seed %ld", o->seed);
    if (o->world > 1) snprintf(ranks, sizeof ranks, ", %s on %d ranks", o->dist.strategy, o->world);
    sq_info("training BERT (%d layers, hidden %d, %.2fM parameters, %s) on %s (%zu features): steps %ld-%ld of %ld "
            "(%.2f epochs of batch %ld), %s %s%s, into %s",
            m->cfg.layers, m->cfg.hidden, (double)m->n_params / 1e6, from, o->data, n, step0 + 1, total, total,
            (double)total / (double)spe, o->batch, o->device, precision_of(o), ranks, o->out);
}

/* The one line that says where the model is and how the run went. */
static void closing_line(const train_opts *o, const sq_ckpt_state *st, long steps, long total, double seconds,
                         double samples, double loss, const double *f1, bool early) {
    if (o->rank != 0) return;
    char stopped[200] = "", tail[4400] = "";
    int k = 0;
    if (early)
        snprintf(stopped, sizeof stopped, "stopped early at step %ld of %ld (no better dev F1 in %ld evaluations); ",
                 st->step, total, o->early_stop);
    if (steps) k += snprintf(tail + k, sizeof tail - (size_t)k, ", final loss %.4f", loss);
    if (f1) k += snprintf(tail + k, sizeof tail - (size_t)k, ", dev F1 %.2f", *f1);
    if (f1 && o->save_best)
        snprintf(tail + k, sizeof tail - (size_t)k, " (best %.2f at step %ld, in %s/best)", st->best_f1, st->best_step,
                 o->out);
    sq_info("%smodel written to %s/model.safetensors: %ld steps in %.1f s, %.1f samples/s%s", stopped, o->out, steps,
            seconds, seconds > 0 ? samples / seconds : 0, tail);
}

int sq_cmd_train(int argc, char **argv) {
    train_opts o;
    sq_train_hf_args(argc, argv);
    parse(argc, argv, &o);
    sq_quiet = o.quiet;
    /* RUNDIR is only read until every input has been checked; the ranks
     * read it before they meet, so that none takes another's fresh
     * run.json for an old run. */
    bool has_run_json, has_run = holds_run(o.out, &has_run_json);
    if (has_run && !o.resume) sq_die("%s: holds a run already (use --resume to continue it)", o.out);
    bool resuming = o.resume && has_run_json;
    sq_resume rs = {0};
    if (resuming && sq_resume_settings(&o, &rs)) sq_die_lib();
    check_opts(&o);
    if (resuming && rs.complete && (rs.stopped_early || o.max_steps <= rs.done_step)) {
        if (o.rank == 0 && rs.stopped_early)
            sq_info("%s: run is complete (stopped early at step %ld of %ld: no better dev F1 in %ld evaluations)",
                    o.out, rs.done_step, rs.total_steps, o.early_stop);
        else if (o.rank == 0)
            sq_info("%s: run is complete (%ld steps); a larger --max-steps adds steps", o.out, rs.done_step);
        return 0;
    }
    bool appending = resuming && rs.complete;
    sq_train_set_threads((int)o.threads);
    if (sq_check_input("--data", o.data, SQ_WANT_FEATURES) ||
        (o.init && sq_check_input("--init", o.init, SQ_WANT_WEIGHTS)) ||
        (o.config && sq_check_input("--config", o.config, SQ_WANT_CONFIG)) ||
        (o.eval_data && (sq_check_input("--eval-data", o.eval_data, SQ_WANT_FEATURES) ||
                         sq_check_input("--eval-dataset", o.eval_dataset, SQ_WANT_DATASET))))
        sq_die_lib();
    sq_dist *dist;
    if (sq_dist_open(&o.dist, o.device, &dist)) sq_die_lib();
    o.dist.strategy = sq_strategy_name(sq_dist_strategy(dist));
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
        sq_load_info li;
        if (sq_model_load_hf(m, o.init, (uint64_t)o.seed, &li)) sq_die_lib();
        if (o.rank == 0 && sq_load_info_notable(&li)) {
            char line[512];
            sq_load_info_format(&li, line, sizeof line);
            sq_info("%s: %s", o.init, line);
        }
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
    sq_ckpt_state st = {0}; /* the dev-F1 history goes on from the checkpoint's */
    char *latest = NULL;
    if (o.resume) {
        if (sq_ckpt_latest(o.out, &latest)) sq_die_lib();
        if (latest) {
            if (sq_dist_ckpt_load(latest, m, &st)) sq_die_lib();
            /* A run may get more steps (appending), never fewer. */
            if (st.global_batch != o.batch || st.seed != (uint64_t)o.seed || st.total_steps > total)
                sq_die("%s: --batch-size %ld, --seed %ld and %ld total steps differ from the checkpoint's "
                       "(%ld, %llu, %ld)", latest, o.batch, o.seed, total, st.global_batch,
                       (unsigned long long)st.seed, st.total_steps);
            step0 = st.step;
        }
        if (appending && step0 != rs.done_step)
            sq_die("%s: its newest checkpoint is of step %ld, not of its end (step %ld): steps cannot be added to it "
                   "exactly", o.out, step0, rs.done_step);
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
    bool verbose = o.verbose || o.profile;
    if (step0 < total) {
        double t0 = sq_now();
        int shapes;
        if (sq_backend_warm(be, max_B, max_T, &shapes)) sq_die_lib();
        if (shapes && verbose)
            sq_info("warm-up: %d batch shapes in %.1f s (SQ_WARM_SHAPES=0 skips it)", shapes, sq_now() - t0);
    }
    if (sq_dist_attach(dist, be, max_B, max_T, !verbose || o.quiet)) sq_die_lib();
    sq_loader *ld = NULL;
    if (step0 < total && sq_loader_open(&lc, &ld)) sq_die_lib();

    /* Every input has been checked: the run begins, and RUNDIR with it. */
    catch_signals(&o);
    if (mkdir(o.out, 0755) && errno != EEXIST) sq_die("%s: %s", o.out, strerror(errno));
    sq_metrics *mt = sq_metrics_open(o.out, o.rank, o.quiet, (int)o.log_every, step0);
    if (!mt) sq_die_lib();
    sq_trace *tr = open_trace(&o, be, step0);
    double peak_flops, gpu_gib;
    gpu_facts(o.device, be, &peak_flops, &gpu_gib);
    /* A resumed run keeps its run.json, unless it starts again or grows. */
    if ((!resuming || step0 == 0 || appending) && o.rank == 0) {
        if (write_run_json(&o, m, total, opt.warmup_steps, n)) sq_die_lib();
    }
    if (resuming && !latest && o.rank == 0) sq_info("%s: no checkpoint yet: training again from step 0", o.out);
    start_line(&o, m, latest, n, step0, total, spe);
    free(latest);

    /* flops: this rank's model FLOPs (sq_model_row_flops, real tokens): MFU
     * is per GPU, and summing it would change the bytes comm counts.
     * run_samples: this rank's since the start, for the closing line. */
    double t_run = sq_now(), t_last = t_run, samples = 0, tokens = 0, flops = 0, run_samples = 0, last_loss = 0;
    double em = 0, f1 = 0;
    bool evaluated = false, early = false;
    long done = step0;
    /* SQ_DEVICE_NORM=1: the loss and the norm stay on the device and are
     * read where the run reports or saves them (core/optim.h) */
    bool deferred = sq_dist_strategy(dist) == SQ_SINGLE && sq_backend_defer_numbers(be);
    double read_loss = NAN, read_gn = NAN;
    for (long s = step0; s < total && !early; s++) {
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
            run_samples += b->B;
            for (int i = 0; i < b->B; i++) {
                tokens += b->len[i];
                flops += sq_model_row_flops(&cfg, b->len[i]);
            }
        }
        sq_trace_begin(tr, "optimizer");
        if (sq_dist_step(dist, &opt, s, &loss, &lr, &gn)) sq_die_lib();
        sq_trace_end(tr, "optimizer");
        bool last = s + 1 == total;
        /* After each epoch (HF's eval_strategy "epoch") or every --eval-every
         * steps ("steps"), and at the end. */
        bool eval_now = ev && (last || (o.eval_every ? (s + 1) % o.eval_every == 0 : (s + 1) % spe == 0));
        bool ckpt_now = o.ckpt_every && (s + 1) % o.ckpt_every == 0;
        bool read = false; /* this step's numbers read from the device */
        if (deferred) {
            read = (s + 1) % o.log_every == 0 || last || stop_signal || eval_now || ckpt_now;
            if (read && sq_optimizer_read(be, &read_loss, &read_gn)) sq_die_lib();
            loss = read_loss, gn = read_gn; /* between reads the progress shows the last ones */
        }
        double now = sq_now(), dt = now - t_last > 1e-9 ? now - t_last : 1e-9;
        double job[2] = {samples, tokens}; /* every rank's */
        if (sq_dist_sum(dist, job, 2)) sq_die_lib();
        sq_step_metrics sm = {.step = s + 1, .total_steps = total, .epoch = (double)(s + 1) / (double)spe,
                              .loss = loss, .lr = lr, .grad_norm = gn, .samples_per_s = job[0] / dt,
                              .tokens_per_s = job[1] / dt, .mfu = peak_flops > 0 ? flops / dt / peak_flops : 0,
                              .gpu_mem_gib = gpu_gib};
        sq_dist_take_stats(dist, &sm.comm_bytes, &sm.comm_s);
        if (sq_metrics_step(mt, &sm)) sq_die_lib();
        last_loss = loss;
        if ((s + 1) % o.log_every == 0) {
            t_last = now;
            samples = tokens = flops = 0;
        }
        if (eval_now) {
            double epoch = (double)(s + 1) / (double)spe;
            if (sq_dist_full_params(dist)) sq_die_lib();
            sq_trace_begin(tr, "eval");
            if (sq_dev_eval_run(ev, be, max_B, &em, &f1)) sq_die("%s: %s", o.eval_data, sq_errmsg());
            sq_trace_end(tr, "eval");
            if (sq_metrics_eval(mt, s + 1, epoch, em, f1)) sq_die_lib();
            evaluated = true;
            if (o.rank == 0) sq_info("step %ld (epoch %.2f): dev exact match %.2f, F1 %.2f", s + 1, epoch, em, f1);
            /* HF EarlyStoppingCallback: better means strictly better. */
            if (!st.best_step || f1 > st.best_f1) {
                st.best_f1 = f1;
                st.best_step = s + 1;
                st.evals_since_best = 0;
                if (o.save_best && o.rank == 0 && save_best(o.out, be, s + 1, epoch, em, f1)) sq_die_lib();
            } else {
                st.evals_since_best++;
            }
            int any; /* the ranks stop together */
            if (sq_dist_any(dist, o.early_stop && st.evals_since_best >= o.early_stop && !last, &any)) sq_die_lib();
            early = any;
        }
        bool end = last || early;
        int stop; /* the ranks stop at the same step */
        if (sq_dist_any(dist, stop_signal != 0, &stop)) sq_die_lib();
        /* The end too: a larger --max-steps continues from it exactly. */
        if (stop || end || ckpt_now) {
            /* a signal after the read above */
            if (deferred && !read && sq_optimizer_read(be, &read_loss, &read_gn)) sq_die_lib();
            st.step = s + 1;
            st.total_steps = total;
            st.global_batch = o.batch;
            st.steps_per_epoch = spe;
            st.seed = (uint64_t)o.seed;
            st.complete = end;
            sq_trace_begin(tr, "checkpoint");
            if (sq_dist_checkpoint(dist, o.out, &st)) sq_die_lib();
            sq_trace_end(tr, "checkpoint");
        }
        done = s + 1;
        if (stop && !end) {
            sq_metrics_close(mt);
            close_trace(tr, be);
            sq_dist_close(dist);
            bool interrupted = stop_signal == SIGINT;
            if (o.rank == 0 && interrupted)
                sq_info("interrupted: checkpoint at step %ld of %ld written (%s/checkpoints/step-%08ld); "
                        "'sq-train -o %s --resume' continues", done, total, o.out, done, o.out);
            else if (o.rank == 0)
                sq_info("%s: checkpoint at step %ld of %ld written (%s/checkpoints/step-%08ld); exiting %d for a "
                        "requeue (--resume continues)", stop_signal == SIGUSR1 ? "SIGUSR1" : "SIGTERM", done,
                        total, o.out, done, SQ_EXIT_REQUEUE);
            exit(interrupted ? SQ_EXIT_INTERRUPTED : SQ_EXIT_REQUEUE);
        }
    }
    if (sq_dist_sum(dist, &run_samples, 1) || sq_dist_full_params(dist) || (o.rank == 0 && write_final(o.out, be))) sq_die_lib();
    if (sq_metrics_close(mt)) sq_die_lib();
    if (close_trace(tr, be)) sq_die_lib();
    double seconds = sq_now() - t_run;
    sq_dev_eval_close(ev);
    sq_loader_close(ld);
    sq_dist_close(dist); /* with -v, the backward time per layer */
    be->free(be);
    sq_model_free(m);
    sq_features_close(feat);
    closing_line(&o, &st, done - step0, total, seconds, run_samples, last_loss, evaluated ? &f1 : NULL, early);
    return 0;
}
