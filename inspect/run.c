/* sq-inspect for sq-train's folders (layout in docs/formats.md, "Run
 * directory").  A run folder:
 *   {"type":"run","settings":{run.json}|null,"steps":N|null,"epoch":E|null,"loss":L|null,
 *    "evals":[{"step","epoch","exact_match","f1"},...],"checkpoints":["step-00000030",...]}
 *   {"type":"checkpoint",...}            per complete checkpoint, as below
 *   {"type":"file","name":N,"bytes":B}   per entry of the folder ("folder":true for folders)
 *   {"type":"metrics",...}               per metrics.jsonl line (--values)
 * steps, epoch and loss are the last logged training line's (a resumed run
 * may log a step twice: the later line wins, for evaluations too).
 * A checkpoint folder:
 *   {"type":"checkpoint","name":"step-00000030","state":{state.json}|null,
 *    "manifest":{...} (a sharded checkpoint's), "tensors":T,"parameters":P,
 *    "config":{...}|null,"files":[{"name","bytes"},...]}
 *   then, with --values, its model.safetensors' tensor lines.
 * Tensors, parameters and config come from model.safetensors' header
 * alone, so a 440 MB model is not read.  Everything is read and checked
 * before the first line (the lines are built in memory). */
#include "inspect.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* run.json, state.json, manifest.json are small; metrics.jsonl grows by a
 * line every --log-every steps. */
#define MAX_JSON ((size_t)1 << 30)
/* The safetensors reader's own bound on a header. */
#define MAX_HEADER 100000000u

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = sq_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool exists(const char *path, bool *is_dir, uint64_t *bytes) {
    struct stat st;
    if (stat(path, &st)) return false;
    if (is_dir) *is_dir = S_ISDIR(st.st_mode);
    if (bytes) *bytes = (uint64_t)st.st_size;
    return true;
}

/* dir/name as one-line JSON, "null" when absent; -1 when it is not JSON. */
static int emit_json_file(FILE *out, const char *dir, const char *name) {
    char *path = join(dir, name), *buf = NULL;
    size_t len;
    int rc = 0;
    if (!path) return -1;
    if (!exists(path, NULL, NULL)) {
        fputs("null", out);
    } else if (sq_read_file(path, MAX_JSON, &buf, &len)) {
        rc = -1;
    } else {
        json_t *j = sq_json_loadb(path, buf, len);
        if (!j) rc = -1;
        else emit_json_text(out, buf);
        json_decref(j);
    }
    free(buf);
    free(path);
    return rc;
}

/* The names in dir, sorted; NULL-terminated, caller frees (each and all). */
static char **list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        sq_err_sys("%s", dir);
        return NULL;
    }
    size_t n = 0, cap = 16;
    char **names = sq_malloc(cap * sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n + 2 > cap) {
            char **more = sq_realloc(names, (cap *= 2) * sizeof *names);
            if (!more) {
                for (size_t i = 0; i < n; i++) free(names[i]);
                free(names);
                names = NULL;
                break;
            }
            names = more;
        }
        if (!(names[n] = sq_strdup(e->d_name))) {
            for (size_t i = 0; i < n; i++) free(names[i]);
            free(names);
            names = NULL;
            break;
        }
        n++;
    }
    closedir(d);
    if (!names) return NULL;
    names[n] = NULL;
    for (size_t i = 1; i < n; i++) /* few entries: insertion sort */
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    return names;
}

static void free_list(char **names) {
    for (size_t i = 0; names && names[i]; i++) free(names[i]);
    free(names);
}

/* "files":[{"name":..,"bytes":..},...] of dir, or per-entry "file" lines. */
static int emit_files(FILE *out, const char *dir, bool as_lines) {
    char **names = list(dir);
    if (!names) return -1;
    if (!as_lines) fputs(",\"files\":[", out);
    int shown = 0;
    for (size_t i = 0; names[i]; i++) {
        char *p = join(dir, names[i]);
        bool is_dir = false;
        uint64_t bytes = 0;
        if (!p || !exists(p, &is_dir, &bytes)) {
            free(p);
            continue; /* removed meanwhile */
        }
        free(p);
        fputs(as_lines ? "{\"type\":\"file\",\"name\":" : shown++ ? ",{\"name\":" : "{\"name\":", out);
        emit_string(out, names[i]);
        if (is_dir) fputs(",\"folder\":true", out);
        else fprintf(out, ",\"bytes\":%llu", (unsigned long long)bytes);
        fputs(as_lines ? "}\n" : "}", out);
    }
    if (!as_lines) fputc(']', out);
    free_list(names);
    return 0;
}

/* Tensors, parameters and the config of a safetensors file, from its header. */
static int emit_model_header(FILE *out, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sq_err_sys("%s", path);
    uint8_t h8[8];
    uint64_t hlen = 0;
    char *hdr = NULL;
    int rc = 0;
    if (fread(h8, 1, 8, fp) != 8) rc = sq_err("%s: truncated header", path);
    for (int i = 0; !rc && i < 8; i++) hlen |= (uint64_t)h8[i] << (8 * i);
    if (!rc && hlen > MAX_HEADER) rc = sq_err("%s: header length %llu is not plausible", path, (unsigned long long)hlen);
    if (!rc && !(hdr = sq_malloc(hlen + 1))) rc = -1;
    if (!rc && fread(hdr, 1, hlen, fp) != hlen) rc = sq_err("%s: truncated header", path);
    fclose(fp);
    json_t *j = NULL;
    if (!rc) {
        hdr[hlen] = 0;
        json_error_t e;
        if (!(j = json_loads(hdr, 0, &e)) || !json_is_object(j)) rc = sq_err("%s: header is not a JSON object", path);
    }
    if (!rc) {
        uint64_t tensors = 0, params = 0;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (!strcmp(key, "__metadata__")) continue;
            uint64_t n = 1;
            json_t *dim;
            size_t i;
            json_array_foreach(json_object_get(v, "shape"), i, dim) n *= (uint64_t)json_integer_value(dim);
            tensors++;
            params += n;
        }
        fprintf(out, ",\"tensors\":%llu,\"parameters\":%llu,\"config\":", (unsigned long long)tensors,
                (unsigned long long)params);
        const char *cfg = json_string_value(json_object_get(json_object_get(j, "__metadata__"), "config"));
        if (cfg) emit_json_or_string(out, cfg);
        else fputs("null", out);
    }
    json_decref(j);
    free(hdr);
    return rc;
}

/* One {"type":"checkpoint",...} line for folder dir, named name. */
static int emit_checkpoint(FILE *out, const char *dir, const char *name) {
    fputs("{\"type\":\"checkpoint\",\"name\":", out);
    emit_string(out, name);
    fputs(",\"state\":", out);
    if (emit_json_file(out, dir, "state.json")) return -1;
    char *m = join(dir, "manifest.json");
    if (!m) return -1;
    bool sharded = exists(m, NULL, NULL);
    free(m);
    if (sharded) {
        fputs(",\"manifest\":", out);
        if (emit_json_file(out, dir, "manifest.json")) return -1;
    }
    char *model = join(dir, "model.safetensors");
    if (!model) return -1;
    int rc = exists(model, NULL, NULL) ? emit_model_header(out, model) : 0;
    free(model);
    if (rc || emit_files(out, dir, false)) return -1;
    fputs("}\n", out);
    return 0;
}

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/') p--;
    return p;
}

/* A checkpoint's name: "step-" and 8 digits (a ".partial" one is not done). */
static bool is_checkpoint_name(const char *s) {
    return !strncmp(s, "step-", 5) && strlen(s) == 13 && strspn(s + 5, "0123456789") == 8;
}

typedef struct {
    json_t *last;     /* the last training line (has "loss") */
    json_t *evals;    /* evaluation lines (have "f1"), the later of one step kept */
    char *text;       /* the file, for --values */
    size_t len;
} metrics;

static void emit_number(FILE *out, json_t *v) {
    if (json_is_integer(v)) fprintf(out, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) emit_double(out, json_real_value(v));
    else fputs("null", out);
}

static int read_metrics(const char *dir, metrics *m) {
    *m = (metrics){.evals = json_array()};
    char *path = join(dir, "metrics.jsonl");
    int rc = 0;
    if (!path || !m->evals) return -1;
    if (!exists(path, NULL, NULL)) goto out;
    if ((rc = sq_read_file(path, MAX_JSON, &m->text, &m->len))) goto out;
    size_t line = 0;
    for (char *p = m->text; !rc && p < m->text + m->len; line++) {
        char *nl = memchr(p, '\n', (size_t)(m->text + m->len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(m->text + m->len - p);
        json_error_t e;
        json_t *j = n ? json_loadb(p, n, 0, &e) : NULL;
        if (n && !json_is_object(j)) {
            rc = sq_err("%s: line %zu is not a JSON object", path, line + 1);
        } else if (j && json_object_get(j, "loss")) {
            json_decref(m->last);
            m->last = json_incref(j);
        } else if (j && json_object_get(j, "f1")) {
            json_t *step = json_object_get(j, "step");
            size_t i;
            json_t *ev;
            json_array_foreach(m->evals, i, ev) {
                if (json_equal(json_object_get(ev, "step"), step)) {
                    json_array_remove(m->evals, i);
                    break;
                }
            }
            json_array_append(m->evals, j);
        }
        json_decref(j);
        p += n + 1;
    }
out:
    free(path);
    return rc;
}

static void free_metrics(metrics *m) {
    json_decref(m->last);
    json_decref(m->evals);
    free(m->text);
}

static int run_lines(const char *path, FILE *out, bool values) {
    metrics m;
    if (read_metrics(path, &m)) {
        free_metrics(&m);
        return -1;
    }
    fputs("{\"type\":\"run\",\"settings\":", out);
    int rc = emit_json_file(out, path, "run.json");
    static const char *const last_keys[] = {"step", "epoch", "loss"};
    static const char *const out_keys[] = {"steps", "epoch", "loss"};
    for (int k = 0; !rc && k < 3; k++) {
        fprintf(out, ",\"%s\":", out_keys[k]);
        emit_number(out, m.last ? json_object_get(m.last, last_keys[k]) : NULL);
    }
    fputs(",\"evals\":[", out);
    size_t i;
    json_t *ev;
    json_array_foreach(m.evals, i, ev) {
        static const char *const keys[] = {"step", "epoch", "exact_match", "f1"};
        for (int k = 0; k < 4; k++) {
            fprintf(out, "%s\"%s\":", k ? "," : i ? ",{" : "{", keys[k]);
            emit_number(out, json_object_get(ev, keys[k]));
        }
        fputc('}', out);
    }
    fputs("],\"checkpoints\":[", out);
    char *ck = join(path, "checkpoints");
    char **names = NULL;
    bool is_dir = false;
    if (!ck) rc = -1;
    else if (!rc && exists(ck, &is_dir, NULL) && is_dir && !(names = list(ck))) rc = -1;
    int shown = 0;
    for (size_t k = 0; !rc && names && names[k]; k++)
        if (is_checkpoint_name(names[k])) {
            fputs(shown++ ? "," : "", out);
            emit_string(out, names[k]);
        }
    fputs("]}\n", out);
    for (size_t k = 0; !rc && names && names[k]; k++) {
        if (!is_checkpoint_name(names[k])) continue;
        char *d = join(ck, names[k]);
        rc = d ? emit_checkpoint(out, d, names[k]) : -1;
        free(d);
    }
    free_list(names);
    free(ck);
    if (!rc) rc = emit_files(out, path, true);
    for (char *p = m.text; !rc && values && p < m.text + m.len;) {
        char *nl = memchr(p, '\n', (size_t)(m.text + m.len - p));
        if (nl) *nl = 0;
        const char *body = p + strspn(p, " \t\r");
        if (*body == '{') {
            body += 1 + strspn(body + 1, " \t\r");
            fputs(*body == '}' ? "{\"type\":\"metrics\"" : "{\"type\":\"metrics\",", out);
            emit_json_text(out, body);
            fputc('\n', out);
        }
        p = nl ? nl + 1 : m.text + m.len;
    }
    free_metrics(&m);
    return rc;
}

static int checkpoint_lines(const char *path, FILE *out, bool values) {
    if (emit_checkpoint(out, path, base_name(path))) return -1;
    char *model = join(path, "model.safetensors");
    int rc = !model ? -1 : values && exists(model, NULL, NULL) ? inspect_safetensors(model, out, false) : 0;
    free(model);
    return rc;
}

/* The lines are built in memory and written only when all were made. */
static int buffered(int (*lines)(const char *, FILE *, bool), const char *path, FILE *out, bool values) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return sq_err_sys("%s: cannot buffer the output", path);
    int rc = lines(path, mem, values);
    if (fclose(mem) && !rc) rc = sq_err_sys("%s: cannot buffer the output", path);
    if (!rc && fwrite(buf, 1, len, out) != len) rc = sq_err("%s: write error", path);
    free(buf);
    return rc;
}

int inspect_run(const char *path, FILE *out, bool values) { return buffered(run_lines, path, out, values); }
int inspect_checkpoint(const char *path, FILE *out, bool values) {
    return buffered(checkpoint_lines, path, out, values);
}
