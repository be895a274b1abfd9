/* sq-train replay: K training steps on given batches (the layout of
 * ../shared/tools/make_ref.py), writing what the reference wrote so the two
 * can be compared tensor by tensor.  Padded positions take part in the loss
 * as in HF (hf_padded_logits). */
#include "core/backend.h"
#include "cmd/commands.h"
#include "cmd/device_opts.h"
#include "cmd/replay.h"
#include "core/optim.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/json.h"
#include "sq/safetensors.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: sq-train replay --init MODEL [--config C] --batches B.safetensors --steps K --lr LR\n"
    "                       --warmup-steps W --weight-decay WD --max-grad-norm G\n"
    "                       [--hidden-dropout P] [--attention-dropout P] [--seed N] [--device cpu|cuda]\n"
    "                       [--precision bf16|fp32] [--padded]\n"
    "                       [--threads N] -o OUTDIR\n"
    "Runs K AdamW steps on the batches input_ids_K, token_type_ids_K, attention_mask_K,\n"
    "start_positions_K, end_positions_K and writes OUTDIR/forward.safetensors (step-0 logits\n"
    "and loss), grads.safetensors (step-0 gradients), final.safetensors and losses.json.\n"
    "MODEL: an HF model folder or a .safetensors / .index.json file.  -h/--help, -V/--version.\n"
    "\n"
    "Exit status: 0 written, 1 bad input, 2 bad usage.\n";

static const sq_tensor *step_tensor(const sq_st *st, const char *what, int k, int ndim) {
    char name[64];
    snprintf(name, sizeof name, "%s_%d", what, k);
    const sq_tensor *t = sq_st_find(st, name);
    if (!t) {
        sq_err("missing tensor %s", name);
        return NULL;
    }
    if (t->ndim != ndim || t->dtype == SQ_F32 || t->dtype == SQ_F16 || t->dtype == SQ_BF16) {
        sq_err("%s: expected an integer tensor with %d dimensions", name, ndim);
        return NULL;
    }
    return t;
}

/* Fills b from step k of the file; b's arrays are large enough. */
static int load_step(const sq_st *st, int k, sq_batch *b, int32_t *mask) {
    const sq_tensor *ids = step_tensor(st, "input_ids", k, 2), *tt = step_tensor(st, "token_type_ids", k, 2),
                    *am = step_tensor(st, "attention_mask", k, 2), *sp = step_tensor(st, "start_positions", k, 1),
                    *ep = step_tensor(st, "end_positions", k, 1);
    if (!ids || !tt || !am || !sp || !ep) return -1;
    int B = (int)ids->shape[0], T = (int)ids->shape[1];
    if (tt->numel != ids->numel || am->numel != ids->numel || sp->numel != (size_t)B || ep->numel != (size_t)B)
        return sq_err("step %d: tensor shapes disagree", k);
    if (sq_tensor_to_i32(ids, b->ids) || sq_tensor_to_i32(tt, b->types) || sq_tensor_to_i32(am, mask) ||
        sq_tensor_to_i32(sp, b->start) || sq_tensor_to_i32(ep, b->end))
        return -1;
    b->B = B;
    b->T = T;
    b->n_start = b->n_end = 0;
    for (int i = 0; i < B; i++) {
        int n = 0;
        while (n < T && mask[i * T + n]) n++;
        for (int t = n; t < T; t++)
            if (mask[i * T + t]) return sq_err("step %d, row %d: attention_mask is not a prefix of ones", k, i);
        if (!n) return sq_err("step %d, row %d: no real token", k, i);
        b->len[i] = n;
        b->sample[i] = (uint32_t)(k * B + i);
        /* CrossEntropyLoss(ignore_index=T) after clamping to [0, T] */
        b->n_start += b->start[i] < T;
        b->n_end += b->end[i] < T;
    }
    b->step = (uint32_t)k;
    b->hf_padded_logits = true;
    return 0;
}

static int write_outputs(const char *dir, sq_backend *be, const sq_batch *b, double loss, int which) {
    sq_model *m = be->model;
    char path[4096];
    if (which == 0) {
        size_t n = (size_t)b->B * b->T;
        float *s = sq_malloc(2 * n * sizeof(float));
        if (!s) return -1;
        float l = (float)loss;
        int64_t shape[2] = {b->B, b->T}, one = 1;
        sq_stw *w = sq_stw_new();
        int rc = !w || be->logits(be, s, s + n) || sq_stw_add(w, "start_logits", SQ_F32, 2, shape, s) ||
                 sq_stw_add(w, "end_logits", SQ_F32, 2, shape, s + n) || sq_stw_add(w, "loss", SQ_F32, 1, &one, &l);
        snprintf(path, sizeof path, "%s/forward.safetensors", dir);
        if (!rc) rc = sq_stw_write(w, path);
        sq_stw_free(w);
        free(s);
        if (rc) return -1;
        if (be->pull(be, SQ_BUF_GRADS)) return -1;
        w = sq_stw_new();
        rc = w ? 0 : -1;
        for (int i = 0; i < m->n_tensors && !rc; i++)
            rc = sq_stw_add(w, m->table[i].name, SQ_F32, m->table[i].ndim, m->table[i].shape,
                            m->grads + m->table[i].offset);
        snprintf(path, sizeof path, "%s/grads.safetensors", dir);
        if (!rc) rc = sq_stw_write(w, path);
        sq_stw_free(w);
        return rc;
    }
    if (be->pull(be, SQ_BUF_PARAMS)) return -1;
    snprintf(path, sizeof path, "%s/final.safetensors", dir);
    return sq_model_save(m, m->params, path);
}

int sq_replay(const sq_replay_opts *r) {
    sq_bert_config cfg;
    if (sq_model_config_for(r->init, r->config, &cfg)) return -1;
    cfg.hidden_dropout = r->hidden_dropout;
    cfg.attention_dropout = r->attention_dropout;
    sq_model *m = NULL;
    sq_st *st = NULL;
    sq_backend *be = NULL;
    sq_batch b = {0};
    int32_t *mask = NULL;
    char *dir = NULL;
    json_t *jl = json_array(), *jr = json_array(), *jg = json_array();
    sq_load_info li;
    int rc = -1;
    if (!jl || !jr || !jg) goto done;
    if (sq_model_new(&cfg, true, &m) || sq_model_load_hf(m, r->init, r->seed, &li)) goto done;
    if (sq_load_info_notable(&li)) {
        char line[512];
        sq_load_info_format(&li, line, sizeof line);
        sq_info("%s: %s", r->init, line);
    }
    if (sq_st_read(r->batches, &st)) goto done;
    int max_B = 0, max_T = 0;
    for (int k = 0; k < r->steps; k++) {
        const sq_tensor *t = step_tensor(st, "input_ids", k, 2);
        if (!t) goto bad_batches;
        if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > 65536 || t->shape[1] > cfg.max_position) {
            sq_err("input_ids_%d: shape outside [1, 65536] x [1, %d]", k, cfg.max_position);
            goto bad_batches;
        }
        if (t->shape[0] > max_B) max_B = (int)t->shape[0];
        if (t->shape[1] > max_T) max_T = (int)t->shape[1];
    }
    mask = sq_malloc((size_t)max_B * max_T * sizeof *mask);
    if (!mask || sq_batch_alloc(&b, max_B, max_T) || sq_backend_open(r->device, m, max_B, max_T, &be)) goto done;
    b.seed = r->seed;
    if (!(dir = sq_dir_begin(r->out))) goto done;
    for (int k = 0; k < r->steps; k++) {
        double loss, lr, gn;
        if (load_step(st, k, &b, mask)) goto bad_batches;
        if (be->zero_grads(be) || be->forward(be, &b, true, &loss) || be->backward(be, &b, NULL)) goto done;
        if (k == 0 && write_outputs(dir, be, &b, loss, 0)) goto done;
        if (sq_optimizer_step(be, &r->optim, k, &lr, &gn)) goto done;
        if (json_array_append_new(jl, json_real(loss)) || json_array_append_new(jr, json_real(lr)) ||
            json_array_append_new(jg, json_real(gn))) {
            sq_err("out of memory");
            goto done;
        }
    }
    if (write_outputs(dir, be, &b, 0, 1)) goto done;
    json_t *j = json_pack("{s:O, s:O, s:O}", "loss", jl, "lr", jr, "grad_norm", jg);
    char path[4096];
    snprintf(path, sizeof path, "%s/losses.json", dir);
    rc = !j || sq_json_save(path, j, JSON_INDENT(1)) || sq_dir_commit(dir, r->out) ? -1 : 0;
    json_decref(j);
    goto done;
bad_batches:
    sq_err_ctx("%s", r->batches);
done:
    if (rc && dir) sq_rmtree(dir);
    free(dir);
    json_decref(jl);
    json_decref(jr);
    json_decref(jg);
    free(mask);
    sq_batch_free(&b);
    if (be) be->free(be);
    sq_st_free(st);
    sq_model_free(m);
    return rc;
}

int sq_cmd_replay(int argc, char **argv) {
    sq_replay_opts r = {.device = sq_default_device(), .seed = 42};
    long steps = -1, warmup = -1, threads = 0;
    sq_optim_defaults(&r.optim);
    r.optim.lr = -1;
    enum { O_INIT = 256, O_CONFIG, O_BATCHES, O_STEPS, O_LR, O_WARMUP, O_WD, O_CLIP, O_HD, O_AD, O_SEED, O_DEV, O_THR, O_PREC, O_PADDED };
    static const struct option opts[] = {
        {"init", 1, 0, O_INIT}, {"config", 1, 0, O_CONFIG}, {"batches", 1, 0, O_BATCHES},
        {"steps", 1, 0, O_STEPS}, {"lr", 1, 0, O_LR}, {"warmup-steps", 1, 0, O_WARMUP},
        {"weight-decay", 1, 0, O_WD}, {"max-grad-norm", 1, 0, O_CLIP}, {"hidden-dropout", 1, 0, O_HD},
        {"attention-dropout", 1, 0, O_AD}, {"seed", 1, 0, O_SEED}, {"device", 1, 0, O_DEV},
        {"threads", 1, 0, O_THR}, {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'},
        {"precision", 1, 0, O_PREC}, {"padded", 0, 0, O_PADDED}, {0}};
    const char *precision = NULL;
    bool padded = false;
    int c;
    opterr = 0; /* sq_die_option words the errors */
    while ((c = getopt_long(argc, argv, ":o:hV", opts, NULL)) != -1) {
        switch (c) {
        case O_PREC: precision = optarg; break;
        case O_PADDED: padded = true; break;
        case O_INIT: r.init = optarg; break;
        case O_CONFIG: r.config = optarg; break;
        case O_BATCHES: r.batches = optarg; break;
        case O_STEPS: steps = sq_opt_long("--steps", optarg, 1, 1000000); break;
        case O_LR: r.optim.lr = sq_opt_double("--lr", optarg, 0, 10); break;
        case O_WARMUP: warmup = sq_opt_long("--warmup-steps", optarg, 0, 1000000); break;
        case O_WD: r.optim.weight_decay = sq_opt_double("--weight-decay", optarg, 0, 10); break;
        case O_CLIP: r.optim.max_grad_norm = sq_opt_double("--max-grad-norm", optarg, 0, 1e9); break;
        case O_HD: r.hidden_dropout = sq_opt_double("--hidden-dropout", optarg, 0, 0.99); break;
        case O_AD: r.attention_dropout = sq_opt_double("--attention-dropout", optarg, 0, 0.99); break;
        case O_SEED: r.seed = (uint64_t)sq_opt_long("--seed", optarg, 0, 0x7fffffffffffffffL); break;
        case O_DEV: r.device = optarg; break;
        case O_THR: threads = sq_opt_long("--threads", optarg, 1, 4096); break;
        case 'o': r.out = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': sq_print_version(); return 0;
        default: sq_die_option(c, argv, opts);
        }
    }
    if (optind < argc) sq_die_usage("unexpected argument '%s'", argv[optind]);
    if (!r.init || !r.batches || !r.out || steps < 0 || r.optim.lr < 0 || warmup < 0)
        sq_die_usage("replay needs --init, --batches, --steps, --lr, --warmup-steps and -o");
    if (strcmp(r.device, "cpu") && strcmp(r.device, "cuda"))
        sq_die_usage("--device: \"%s\" is not cpu or cuda", r.device);
    sq_device_options(r.device, precision, padded);
    sq_train_set_threads((int)threads);
    r.steps = (int)steps;
    r.optim.warmup_steps = warmup;
    r.optim.total_steps = steps;
    if (sq_replay(&r)) sq_die_lib();
    return 0;
}
