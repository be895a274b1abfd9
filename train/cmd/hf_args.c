/* The names HF Trainer and run_qa.py give sq-train's options: where the
 * meaning is the same they are rewritten to sq's name before getopt sees
 * them; where it differs they are refused with what to give instead (a
 * per-device batch is not sq's global --batch-size). */
#include "cmd/train_opts.h"

#include "sq/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *hf;  /* without the leading "--" */
    const char *sq;  /* sq's option ("--lr"), NULL when refused */
    const char *why; /* the refusal: what to give instead */
} hf_name;

static const hf_name names[] = {
    {"learning_rate", "--lr", NULL},
    {"num_train_epochs", "--epochs", NULL},
    {"max_steps", "--max-steps", NULL},
    {"gradient_accumulation_steps", "--grad-accum", NULL},
    {"warmup_ratio", "--warmup", NULL},
    {"warmup_steps", "--warmup-steps", NULL},
    {"weight_decay", "--weight-decay", NULL},
    {"max_grad_norm", "--max-grad-norm", NULL},
    {"output_dir", "--output", NULL},
    {"model_name_or_path", "--init", NULL},
    {"logging_steps", "--log-every", NULL},
    {"save_steps", "--checkpoint-every", NULL},
    {"eval_steps", "--eval-every", NULL},
    {"bf16", "--precision=bf16", NULL},
    {"per_device_train_batch_size", NULL,
     "sq-train's --batch-size is the global batch (samples per optimizer step over every rank and "
     "--grad-accum micro-batch): give --batch-size = per-device batch x ranks x --grad-accum"},
    {"per_device_eval_batch_size", NULL, "sq-train evaluates in micro-batches of the training's size (--batch-size)"},
    {"max_seq_length", NULL, "features are cut to length when they are made: sq-pack --max-seq"},
    {"doc_stride", NULL, "windows are cut when the features are made: sq-pack --doc-stride"},
    {"fp16", NULL, "sq-train computes in bf16 or fp32: --precision bf16 (with --device cuda)"},
    {"train_file", NULL, "sq-train reads features: sq-tokenize and sq-pack the SQuAD file, then --data FEATDIR"},
    {"validation_file", NULL,
     "give the dev features (sq-tokenize, sq-pack) as --eval-data FEATDIR and the SQuAD JSON as --eval-dataset"},
    {"resume_from_checkpoint", NULL, "--resume continues -o RUNDIR from its newest checkpoint"},
};

/* HF's num_train_epochs is a float; sq-train trains whole epochs. */
static char *whole_epochs(const char *hf, const char *v) {
    char *end;
    errno = 0;
    double e = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(e))
        sq_die_usage("%s: '%s' is not a number", hf, v);
    if (e != floor(e) || e < 1 || e > 100000)
        sq_die_usage("%s %s: sq-train's --epochs counts whole epochs; for part of one give --max-steps", hf, v);
    char *s = malloc(24);
    if (!s) sq_die("out of memory");
    snprintf(s, 24, "%.0f", e);
    return s;
}

void sq_train_hf_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) return;
        if (strncmp(a, "--", 2)) continue;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            const hf_name *n = &names[k];
            if (strlen(n->hf) != len || strncmp(a + 2, n->hf, len)) continue;
            if (!n->sq) sq_die_usage("--%s is HF's; %s", n->hf, n->why);
            bool flag = strchr(n->sq, '=') != NULL;
            if (flag && eq) sq_die_usage("--%s takes no value here (sq: %s)", n->hf, n->sq);
            bool epochs = !strcmp(n->sq, "--epochs");
            if (eq) {
                const char *v = epochs ? whole_epochs(a, eq + 1) : eq + 1;
                size_t m = strlen(n->sq) + strlen(v) + 2;
                char *s = malloc(m); /* argv's strings live as long as the process */
                if (!s) sq_die("out of memory");
                snprintf(s, m, "%s=%s", n->sq, v);
                argv[i] = s;
            } else {
                argv[i] = (char *)n->sq;
                if (epochs && i + 1 < argc) argv[i + 1] = whole_epochs(a, argv[i + 1]);
            }
            break;
        }
    }
}
