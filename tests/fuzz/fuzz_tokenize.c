/* libFuzzer target: arbitrary bytes as a SQuAD file through both loaders
 * (the fast scanner must decline or agree with jansson and the schema
 * walk) and then every context and question through the tokenizer; and the
 * bytes themselves through the tokenizer as one text.  The first byte's
 * bit 0 picks the cased setup.  Checks the encoder's invariants: ids inside
 * the vocabulary, offsets non-empty and inside the text; and that a text as
 * a tokens file stores it (storable.h: U+0000 as U+FFFD) tokenizes to the
 * same ids and offsets. */
// FUZZ_SOURCES: tokenize/encode.c tokenize/normalize.c tokenize/fixups.c tokenize/wordpiece.c tokenize/vocab.c tokenize/storable.c
#include "../../shared/src/squad_priv.h"
#include "../../tokenize/encode.h"
#include "../../tokenize/storable.h"
#include "sq/squad.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A small vocabulary: the specials, letters and continuations, a few words
 * and non-ASCII pieces, so that WordPiece both matches and fails. */
static const char vocab_text[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\ne\ni\no\nu\nn\ns\nt\nthe\nan\nun\n##a\n##b\n##e\n##s\n##n\n"
    "##ing\n##ed\n.\n,\n!\n?\n\"\n(\n)\n-\n\xe4\xb8\xad\n\xe6\x96\x87\n\xc3\xa9\n##\xc3\xa9\n\xce\xb1\n1\n##1\n";

static vocab V;
static bool ready;

static void check(encoder *e, const char *text, size_t len) {
    if (encode_text(e, text, len)) abort();
    for (size_t i = 0; i < e->n; i++) {
        if (e->ids[i] >= V.size) abort();
        if (e->offsets[2 * i] >= e->offsets[2 * i + 1] || e->offsets[2 * i + 1] > e->cps) abort();
    }
    if (e->cps > len) abort();
}

/* The stored copy of text (if it needs one) encodes as text does. */
static void check_storable(encoder *e, encoder *e2, const char *text, size_t len) {
    char *copy;
    if (storable_text(text, len, &copy)) abort();
    if (!copy) {
        if (memchr(text, 0, len)) abort();
        return;
    }
    size_t nuls = 0;
    for (size_t i = 0; i < len; i++) nuls += text[i] == 0;
    if (!nuls || strlen(copy) != len + 2 * nuls) abort(); /* each NUL became 3 bytes, none is left */
    if (encode_text(e, text, len) || encode_text(e2, copy, strlen(copy))) abort();
    if (e->n != e2->n || e->cps != e2->cps || memcmp(e->ids, e2->ids, e->n * sizeof *e->ids) ||
        memcmp(e->offsets, e2->offsets, 2 * e->n * sizeof *e->offsets))
        abort();
    free(copy);
}

static void same(const sq_squad *a, const sq_squad *b) {
    if (a->n_paragraphs != b->n_paragraphs || a->n_questions != b->n_questions || a->v2 != b->v2 ||
        strcmp(a->version, b->version))
        abort();
    for (uint32_t i = 0; i < a->n_paragraphs; i++) {
        const sq_squad_paragraph *p = &a->paragraphs[i], *q = &b->paragraphs[i];
        if (strcmp(p->title, q->title) || p->context_len != q->context_len ||
            memcmp(p->context, q->context, p->context_len) || p->first_question != q->first_question ||
            p->n_questions != q->n_questions)
            abort();
    }
    for (uint32_t i = 0; i < a->n_questions; i++) {
        const sq_squad_question *p = &a->questions[i], *q = &b->questions[i];
        if (strcmp(p->id, q->id) || p->question_len != q->question_len ||
            memcmp(p->question, q->question, p->question_len) || p->n_answers != q->n_answers ||
            p->is_impossible != q->is_impossible || p->paragraph != q->paragraph)
            abort();
        for (uint32_t k = 0; k < p->n_answers; k++)
            if (p->answers[k].len != q->answers[k].len || p->answers[k].start != q->answers[k].start ||
                memcmp(p->answers[k].text, q->answers[k].text, p->answers[k].len))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) {
        if (vocab_loadb("fuzz-vocab", vocab_text, sizeof vocab_text - 1, &V)) abort();
        ready = true;
    }
    if (size < 1) return 0;
    bool cased = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    encoder e, e2;
    encoder_init(&e, &V, cased);
    encoder_init(&e2, &V, cased);
    check(&e, text, len);
    check_storable(&e, &e2, text, len);

    char *buf = malloc(len + 1);
    if (!buf) abort();
    memcpy(buf, text, len);
    buf[len] = 0;
    sq_squad *fast = NULL, *checked = NULL;
    int rc = squad_scan(buf, len, &fast);
    if (rc == SQUAD_SCAN_ERROR) abort();
    if (rc != SQUAD_SCAN_OK) free(buf);
    int crc = squad_load_checked("fuzz.json", text, len, &checked);
    if (rc == SQUAD_SCAN_OK && crc) abort();
    if (rc == SQUAD_SCAN_OK) same(fast, checked);
    if (!crc) {
        for (uint32_t i = 0; i < checked->n_paragraphs; i++) {
            check(&e, checked->paragraphs[i].context, checked->paragraphs[i].context_len);
            check_storable(&e, &e2, checked->paragraphs[i].context, checked->paragraphs[i].context_len);
        }
        for (uint32_t i = 0; i < checked->n_questions; i++)
            check(&e, checked->questions[i].question, checked->questions[i].question_len);
    }
    sq_squad_free(fast);
    sq_squad_free(checked);
    encoder_free(&e);
    encoder_free(&e2);
    sq_squad *s;
    if (sq_squad_loadb("fuzz.json", text, len, &s) == 0) sq_squad_free(s);
    return 0;
}
