// The --profile spans of profile.h.  While the trace records, a span puts a
// pair of pool events around its launches.  A flush, called where the
// backend has just synchronised its stream (the loss, a grad hook, the
// gradient norm, logits, pull/push, and after AdamW while spans are
// pending: the one sync profiling adds to a step), converts each pair with
// cudaEventElapsedTime against the anchor and hands it to sq_trace_span.
// The anchor is recorded on an idle stream (synchronised first), so it runs
// when it is recorded and the trace clock read then is its time (a few us
// early at most: the launch latency).  Each flush drops it, so every batch
// of spans is measured from a fresh anchor and clock drift cannot add up.
#include "cuda/profile.h"

extern "C" {
#include "report/trace.h"
}

#include <stdio.h>
#include <stdlib.h>

namespace {

cudaError_t prof_create(sq_cu_prof *p) {
    p->ev = (cudaEvent_t *)calloc(2 * (size_t)p->cap, sizeof *p->ev);
    p->span = (sq_cu_span *)calloc((size_t)p->cap, sizeof *p->span);
    if (!p->ev || !p->span) return cudaErrorMemoryAllocation;
    cudaError_t e = cudaEventCreate(&p->anchor);
    for (int i = 0; i < 2 * p->cap && e == cudaSuccess; i++) e = cudaEventCreate(&p->ev[i]);
    return e;
}

// Hands the recorded pairs to the trace; the stream must be idle.
cudaError_t prof_convert(sq_cu_prof *p) {
    cudaError_t e = cudaSuccess;
    for (int i = 0; i < p->n && e == cudaSuccess; i++) {
        const sq_cu_span *s = &p->span[i];
        float ms0 = 0, ms1 = 0;
        e = cudaEventElapsedTime(&ms0, p->anchor, p->ev[2 * i]);
        if (e == cudaSuccess) e = cudaEventElapsedTime(&ms1, p->anchor, p->ev[2 * i + 1]);
        char name[64];
        if (s->layer >= 0)
            snprintf(name, sizeof name, "layer %d %s", s->layer, s->name);
        else
            snprintf(name, sizeof name, "%s", s->name);
        if (e == cudaSuccess)
            sq_trace_span(p->trace, "gpu", name, s->family, s->layer, p->anchor_t + ms0 / 1e3,
                          p->anchor_t + ms1 / 1e3, s->flops, s->bytes);
    }
    p->n = 0;
    p->anchored = false;
    return e;
}

cudaError_t prof_drain(sq_cu_prof *p) {
    cudaError_t e = cudaStreamSynchronize(p->stream);
    return e == cudaSuccess ? prof_convert(p) : e;
}

cudaError_t prof_anchor(sq_cu_prof *p) {
    cudaError_t e = cudaStreamSynchronize(p->stream);
    if (e == cudaSuccess) e = cudaEventRecord(p->anchor, p->stream);
    p->anchor_t = sq_trace_now(p->trace);
    p->anchored = e == cudaSuccess;
    return e;
}

} // namespace

void sq_cu_prof_free(sq_cu_prof *p) {
    if (p->anchor) cudaEventDestroy(p->anchor);
    for (int i = 0; p->ev && i < 2 * p->cap; i++)
        if (p->ev[i]) cudaEventDestroy(p->ev[i]);
    free(p->ev);
    free(p->span);
}

int sq_cu_span_begin(sq_cu_prof *p) {
    if (!sq_trace_recording(p->trace) || p->err != cudaSuccess) return -1;
    if (!p->ev) p->err = prof_create(p);
    if (p->err == cudaSuccess && p->n == p->cap) p->err = prof_drain(p);
    if (p->err == cudaSuccess && !p->anchored) p->err = prof_anchor(p);
    if (p->err == cudaSuccess) p->err = cudaEventRecord(p->ev[2 * p->n], p->stream);
    return p->err == cudaSuccess ? p->n : -1;
}

void sq_cu_span_end(sq_cu_prof *p, int i, const sq_cu_span *s) {
    if (i < 0 || p->err != cudaSuccess) return;
    p->err = cudaEventRecord(p->ev[2 * i + 1], p->stream);
    if (p->err != cudaSuccess) return;
    p->span[i] = *s;
    p->n = i + 1;
}

cudaError_t sq_cu_prof_flush(sq_cu_prof *p) {
    cudaError_t e = p->err;
    if (e == cudaSuccess && p->n) e = prof_convert(p);
    if (e == cudaSuccess) return e;
    p->trace = NULL;
    p->err = cudaSuccess;
    p->n = 0;
    return e;
}
