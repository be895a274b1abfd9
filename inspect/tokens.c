/* sq-inspect for tokens files: a header line, then per paragraph a line
 * {"type":"paragraph","index","title","ids","offsets"} followed by one line
 * per question of it {"type":"question","id","paragraph","ids","answers",
 * "is_impossible"}, in file order.  --values adds the texts (the
 * paragraph's "context", the question's "text"). */
#include "inspect.h"
#include "sq/hash.h"
#include "sq/tokens.h"

static void emit_ids(FILE *out, const uint32_t *ids, uint32_t n) {
    fputc('[', out);
    for (uint32_t i = 0; i < n; i++) fprintf(out, i ? ",%u" : "%u", ids[i]);
    fputc(']', out);
}

static void emit_header(FILE *out, const sq_tokens *t) {
    char vh[65], sh[65];
    sq_hex(t->vocab_sha256, 32, vh);
    sq_hex(t->source_sha256, 32, sh);
    fprintf(out, "{\"type\":\"tokens\",\"version\":");
    emit_string(out, t->version);
    fprintf(out,
            ",\"source_sha256\":\"%s\",\"vocab_sha256\":\"%s\",\"vocab_size\":%u,\"cased\":%s,"
            "\"cls_id\":%u,\"sep_id\":%u,\"pad_id\":%u,\"unk_id\":%u,\"paragraphs\":%u,\"questions\":%u}\n",
            sh, vh, t->vocab_size, t->cased ? "true" : "false", t->cls_id, t->sep_id, t->pad_id, t->unk_id,
            t->n_paragraphs, t->n_questions);
}

static void emit_question(FILE *out, const sq_question *q, bool values) {
    fputs("{\"type\":\"question\",\"id\":", out);
    emit_string(out, q->id);
    fprintf(out, ",\"paragraph\":%u", q->paragraph);
    if (values) {
        fputs(",\"text\":", out);
        emit_string(out, q->text);
    }
    fputs(",\"ids\":", out);
    emit_ids(out, q->ids, q->n_ids);
    fputs(",\"answers\":[", out);
    for (uint32_t a = 0; a < q->n_answers; a++) {
        fputs(a ? ",{\"text\":" : "{\"text\":", out);
        emit_string(out, q->answers[a].text);
        fprintf(out, ",\"start\":%u}", q->answers[a].start);
    }
    fprintf(out, "],\"is_impossible\":%s}\n", q->is_impossible ? "true" : "false");
}

int inspect_tokens(const char *path, FILE *out, bool values) {
    sq_tokens *t;
    if (sq_tokens_read(path, &t)) return -1;
    emit_header(out, t);
    for (uint32_t i = 0; i < t->n_paragraphs; i++) {
        const sq_paragraph *p = &t->paragraphs[i];
        fprintf(out, "{\"type\":\"paragraph\",\"index\":%u,\"title\":", i);
        emit_string(out, p->title);
        if (values) {
            fputs(",\"context\":", out);
            emit_string(out, p->context);
        }
        fputs(",\"ids\":", out);
        emit_ids(out, p->ids, p->n_tokens);
        fputs(",\"offsets\":[", out);
        for (uint32_t k = 0; k < p->n_tokens; k++)
            fprintf(out, k ? ",[%u,%u]" : "[%u,%u]", p->offsets[2 * k], p->offsets[2 * k + 1]);
        fputs("]}\n", out);
        for (uint32_t k = 0; k < p->n_questions; k++) emit_question(out, &t->questions[p->first_question + k], values);
    }
    sq_tokens_free(t);
    return 0;
}
