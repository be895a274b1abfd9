/* helper_hub_copy [--head HEAD.safetensors] [--legacy] [--pretraining]
 *                 [--shards N] IN.safetensors OUTDIR
 *
 * For tests/train/test_minilm.sh: rewrites a BERT checkpoint the way other
 * writers name it, so that the test can check sq-train reads each to the same
 * bits without Python.  Every tensor of IN keeps its bytes; backbone names
 * get the "bert." prefix (BertForPreTraining / BertForQuestionAnswering);
 * --legacy renames LayerNorm weight/bias to gamma/beta (the hub's
 * google-bert/bert-base-uncased); --pretraining adds the cls.predictions and
 * cls.seq_relationship heads (filled with 7s: they must be ignored); --head
 * adds the qa_outputs tensors of HEAD; --shards N writes N shards and
 * model.safetensors.index.json as save_pretrained does, else
 * OUTDIR/model.safetensors. */
#include "sq/error.h"
#include "sq/json.h"
#include "sq/safetensors.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char name[160];
    const sq_tensor *t;   /* from a file, or */
    float *own;           /* made here (F32) */
    int64_t shape[2];
    int ndim;
} item;

static item items[1024];
static int n_items;

static void die(const char *what) {
    fprintf(stderr, "helper_hub_copy: %s: %s\n", what, sq_errmsg());
    exit(1);
}

static void add_file_tensor(const char *name, const sq_tensor *t) {
    if (n_items == (int)(sizeof items / sizeof *items)) {
        fprintf(stderr, "helper_hub_copy: too many tensors\n");
        exit(1);
    }
    item *it = &items[n_items++];
    snprintf(it->name, sizeof it->name, "%s", name);
    it->t = t;
}

static void add_filled(const char *name, int ndim, int64_t d0, int64_t d1) {
    item *it = &items[n_items++];
    snprintf(it->name, sizeof it->name, "%s", name);
    size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    it->own = malloc(n * sizeof(float));
    if (!it->own) exit(1);
    for (size_t i = 0; i < n; i++) it->own[i] = 7.0f;
    it->ndim = ndim;
    it->shape[0] = d0;
    it->shape[1] = d1;
}

static void write_range(int begin, int end, const char *path) {
    sq_stw *w = sq_stw_new();
    if (!w || sq_stw_meta(w, "format", "pt")) die(path);
    for (int i = begin; i < end; i++) {
        const item *it = &items[i];
        int rc = it->t ? sq_stw_add(w, it->name, it->t->dtype, it->t->ndim, it->t->shape, it->t->data)
                       : sq_stw_add(w, it->name, SQ_F32, it->ndim, it->shape, it->own);
        if (rc) die(it->name);
    }
    if (sq_stw_write(w, path)) die(path);
    sq_stw_free(w);
}

int main(int argc, char **argv) {
    const char *head = NULL;
    int legacy = 0, pretraining = 0, shards = 1;
    static const struct option opts[] = {
        {"head", 1, 0, 'h'}, {"legacy", 0, 0, 'l'}, {"pretraining", 0, 0, 'p'}, {"shards", 1, 0, 's'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h': head = optarg; break;
        case 'l': legacy = 1; break;
        case 'p': pretraining = 1; break;
        case 's': shards = atoi(optarg); break;
        default: return 2;
        }
    }
    if (optind != argc - 2 || shards < 1) {
        fprintf(stderr, "usage: helper_hub_copy [--head H] [--legacy] [--pretraining] [--shards N] IN OUTDIR\n");
        return 2;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    sq_st *st, *hst = NULL;
    if (sq_st_read(in, &st)) die(in);
    if (head && sq_st_read(head, &hst)) die(head);
    int64_t hidden = 0, vocab = 0;
    for (size_t i = 0; i < sq_st_count(st); i++) {
        const sq_tensor *t = sq_st_tensor(st, i);
        char name[160];
        snprintf(name, sizeof name, "%s%s", strncmp(t->name, "bert.", 5) ? "bert." : "", t->name);
        char *ln = strstr(name, "LayerNorm.");
        if (legacy && ln) strcpy(ln + 10, !strcmp(ln + 10, "weight") ? "gamma" : "beta");
        if (strstr(name, "word_embeddings.weight")) {
            vocab = t->shape[0];
            hidden = t->shape[1];
        }
        add_file_tensor(name, t);
    }
    if (pretraining) {
        if (!hidden) {
            fprintf(stderr, "helper_hub_copy: %s has no word_embeddings\n", in);
            return 1;
        }
        add_filled("cls.predictions.bias", 1, vocab, 0);
        add_filled("cls.predictions.transform.dense.weight", 2, hidden, hidden);
        add_filled("cls.predictions.transform.dense.bias", 1, hidden, 0);
        add_filled(legacy ? "cls.predictions.transform.LayerNorm.gamma" : "cls.predictions.transform.LayerNorm.weight",
                   1, hidden, 0);
        add_filled(legacy ? "cls.predictions.transform.LayerNorm.beta" : "cls.predictions.transform.LayerNorm.bias",
                   1, hidden, 0);
        add_filled("cls.seq_relationship.weight", 2, 2, hidden);
        add_filled("cls.seq_relationship.bias", 1, 2, 0);
    }
    if (hst) {
        const char *names[] = {"qa_outputs.weight", "qa_outputs.bias"};
        for (int i = 0; i < 2; i++) {
            const sq_tensor *t = sq_st_find(hst, names[i]);
            if (!t) {
                fprintf(stderr, "helper_hub_copy: %s: no %s\n", head, names[i]);
                return 1;
            }
            add_file_tensor(names[i], t);
        }
    }
    mkdir(out, 0755);
    char path[4096];
    if (shards == 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        write_range(0, n_items, path);
    } else {
        json_t *map = json_object();
        for (int s = 0; s < shards; s++) {
            char file[64];
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
            int begin = n_items * s / shards, end = n_items * (s + 1) / shards;
            snprintf(path, sizeof path, "%s/%s", out, file);
            write_range(begin, end, path);
            for (int i = begin; i < end; i++) json_object_set_new(map, items[i].name, json_string(file));
        }
        json_t *idx = json_pack("{s:{}, s:o}", "metadata", "weight_map", map);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", out);
        if (!idx || sq_json_save(path, idx, JSON_INDENT(2))) die(path);
        json_decref(idx);
    }
    for (int i = 0; i < n_items; i++) free(items[i].own);
    sq_st_free(st);
    sq_st_free(hst);
    return 0;
}
