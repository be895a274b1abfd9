// --profile on the GPU: CUDA events around each kernel family of the CUDA
// backend become spans on the trace's "gpu" track (report/trace.h).  A pass
// wraps each family in PROFILE_SPAN; outside recorded steps a span costs one
// test (no event, no sync).  The backend owns one sq_cu_prof and flushes it
// where the host has just synchronised its stream.
#ifndef SQ_TRAIN_CUDA_PROFILE_H
#define SQ_TRAIN_CUDA_PROFILE_H

#include <cuda_runtime.h>

struct sq_trace;

// What one span records: a launch (or a few of one family).
struct sq_cu_span {
    const char *name, *family; // string literals
    int layer;                 // -1: not a layer's
    double flops, bytes;       // 0: not counted
};

// The event pool: created at the first recorded span, never while not
// recording.  Span i owns events 2i (start) and 2i + 1 (end).  The backend
// sets trace (NULL: not profiling), stream and cap (spans between two
// flushes before the pool drains early) and frees it with sq_cu_prof_free.
struct sq_cu_prof {
    sq_trace *trace;
    cudaStream_t stream;
    int cap, n;          // spans the pool holds, spans recorded since the last flush
    cudaEvent_t anchor, *ev;
    sq_cu_span *span;
    bool anchored;       // anchor recorded since the last flush, at anchor_t
    double anchor_t;     // trace clock (s) when the anchor ran
    cudaError_t err;     // the first failure, reported at the next flush
};

void sq_cu_prof_free(sq_cu_prof *p);
// Before a launch: the span's index, or -1 (no span) unless the trace records.
int sq_cu_span_begin(sq_cu_prof *p);
// After the launches of span i (a span begun but never ended, as on an
// error path, is overwritten by the next one).
void sq_cu_span_end(sq_cu_prof *p, int i, const sq_cu_span *s);
// Where the host has just synchronised the stream: the recorded spans go to
// the trace.  A failure (the first since the last flush) detaches the trace
// and is returned, to end the run like any CUDA error.
cudaError_t sq_cu_prof_flush(sq_cu_prof *p);
// Spans or a failure wait for a flush.
inline bool sq_cu_prof_pending(const sq_cu_prof *p) { return p->n || p->err != cudaSuccess; }

// The scope of one span; PROFILE_SPAN's loop runs its body once.  A body
// left by return (an error path) ends no span.
struct sq_cu_span_scope {
    sq_cu_prof *prof;
    int i;
    sq_cu_span s;
    bool open;
};
inline sq_cu_span_scope sq_cu_span_open(sq_cu_prof *p, const char *name, const char *family, int layer, double flops,
                                        double bytes) {
    sq_cu_span_scope sc = {p, sq_cu_span_begin(p), {name, family, layer, flops, bytes}, true};
    return sc;
}
inline void sq_cu_span_close(sq_cu_span_scope *sc) {
    sq_cu_span_end(sc->prof, sc->i, &sc->s);
    sc->open = false;
}

// PROFILE_SPAN(prof, name, family, layer, flops, bytes) statement: the
// statement's launches as one span.
#define PROFILE_SPAN(prof, name, family, layer, flops, bytes)                                                          \
    for (sq_cu_span_scope span_ = sq_cu_span_open(prof, name, family, layer, flops, bytes); span_.open;               \
         sq_cu_span_close(&span_))

#endif
