// nn.Linear on cuBLASLt.  Row-major X[N, C] is column-major C x N, so every
// product is computed transposed in cuBLAS's column-major terms:
//   forward   Y^T (OC x N) = W^T' (op T of the C x OC view) * X^T
//   din       dX^T (C x N) = W (C x OC view) * dY^T
//   dweight   dW^T (C x OC) = X^T * (dY^T)^T
// cuBLASLt's heuristic picks the algorithm, once per problem and bucket of
// n (below), told the real alignment of every pointer (the flat parameter
// buffer's tensors need not be 256-byte aligned, cuBLASLt's default
// assumption).
//
// Bias gradients: deterministic column sums of the fp32 dout (cuda_colsum),
// so that fp32 matches the CPU; with cuda_blas_bgrad_epilogue on (the
// backend's SQ_BGRAD_EPILOGUE=1), bf16 backward matmuls compute them in the
// weight gradient's GEMM instead (CUBLASLT_EPILOGUE_BGRADB, summing the bf16
// dout the GEMM reads), which saves a pass over dout per linear layer.
#include "common.cuh"

extern "C" {
#include "sq/error.h"
}

#include <cublasLt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Algorithms found by the heuristic, per problem with n rounded up to a
// bucket: unpadded batches change n (the token count) every step, and a
// heuristic query per call costs host time the GPU then waits for.  An
// entry is reused for any n in its bucket once cublasLtMatmulAlgoCheck
// accepts it for the real problem.  Entries hang in one list per bucket (a
// dozen problems each for BERT), and the cache has no size limit: a full
// one would make the choice depend on the shapes met before.
//
// The token count is n in the forward and input-gradient GEMMs but k in the
// weight gradient's (m = C, n = OC, k = N).  By default the key rounds n and
// holds k exactly, so each new token count queries the heuristic again for
// the weight-gradient shapes, and the QA head's (n = 2, rounded to 256) is
// never cached.  With cuda_blas_token_buckets on (SQ_LT_TOKEN_BUCKETS=1, a
// candidate) the key rounds the token dimension, wherever it is, and only it.
enum { TOK_N = 0, TOK_K = 1 };
struct lt_key {
    int bf16, m, nb, kb, lda, ldb, ldd, ta, tb, epi;
    int tok; // TOK_N or TOK_K: the dimension rounded to a bucket, the list the entry hangs in
    uint32_t al_a, al_b, al_d;
};
// What a GEMM's epilogue does with its vector: nothing, add a bias (forward),
// or write the bias gradient, the sums of B over k (a weight gradient's GEMM).
enum { EPI_NONE = 0, EPI_BIAS = 1, EPI_BGRADB = 2 };
struct lt_entry {
    lt_key key;
    int epi_used; // the epilogue (EPI_*), or EPI_NONE: a kernel after the GEMM
    cublasLtMatmulAlgo_t algo;
    lt_entry *next; // in its bucket's list
};
enum { LT_BUCKET = 256 };

struct sq_cu_blas {
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_size;
    lt_entry **bucket; // [n_buckets]: lists by list_of(key)
    int n_buckets;
    bool use_cache;
    bool bgrad_epi;  // bf16 bias gradients in the weight gradient's GEMM (BGRADB)
    bool token_buckets; // round the token dimension of every GEMM, n or k
    long queries;    // heuristic queries so far: a step that makes any met a new shape
    long bgrad_fused, bgrad_summed; // bias gradients by BGRADB, by column sums (bgrad_epi on, refused)
};

namespace {

__global__ void add_bias_kernel(float *out, const float *b, int N, int OC) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)N * OC) out[i] += b[i % OC];
}

// db += the bias gradient BGRADB wrote (it overwrites its vector, and
// gradients accumulate over micro-batches).
__global__ void add_vec_kernel(float *dst, const float *src, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] += src[i];
}

uint32_t alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t r = 256;
    while (r > 1 && a % r) r >>= 1;
    return r;
}

cublasStatus_t set_epilogue(cublasLtMatmulDesc_t op, int kind, const float *bias) {
    cublasLtEpilogue_t epi = kind == EPI_BIAS     ? CUBLASLT_EPILOGUE_BIAS
                             : kind == EPI_BGRADB ? CUBLASLT_EPILOGUE_BGRADB
                                                  : CUBLASLT_EPILOGUE_DEFAULT;
    cublasStatus_t st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    if (st != CUBLAS_STATUS_SUCCESS || kind == EPI_NONE) return st;
    // BIAS reads the vector, BGRADB writes it: fp32 either way (the
    // gradients are fp32)
    cudaDataType_t bt = CUDA_R_32F;
    st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    return cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
}

int list_of(const lt_key *key) { return (key->tok == TOK_K ? key->kb : key->nb) / LT_BUCKET - 1; }

lt_entry *lookup(sq_cu_blas *h, const lt_key *key) {
    int b = list_of(key);
    for (lt_entry *e = b < h->n_buckets ? h->bucket[b] : NULL; e; e = e->next)
        if (!memcmp(&e->key, key, sizeof *key)) return e;
    return NULL;
}

// Links e into its bucket's list; false when the bucket array cannot grow.
bool link_entry(sq_cu_blas *h, lt_entry *e) {
    int b = list_of(&e->key);
    if (b >= h->n_buckets) {
        int n = b + 1 > 2 * h->n_buckets ? b + 1 : 2 * h->n_buckets;
        lt_entry **grown = (lt_entry **)realloc(h->bucket, (size_t)n * sizeof *grown);
        if (!grown) return false;
        memset(grown + h->n_buckets, 0, (size_t)(n - h->n_buckets) * sizeof *grown);
        h->bucket = grown;
        h->n_buckets = n;
    }
    e->next = h->bucket[b];
    h->bucket[b] = e;
    return true;
}

// Caches an algorithm for the key's bucket: the heuristic is asked again for
// the bucket's largest token count (nb, kb: with the call's descriptor and
// preference, which the key determines), so the algorithm suits every count
// of the bucket (the call's own choice `res` when it is that largest).
// NULL: nothing cached.
lt_entry *remember(sq_cu_blas *h, const lt_key *key, int epi, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la,
                   cublasLtMatmulPreference_t pref, int m, int n, int k, bool ta, bool tb, cudaDataType_t ab,
                   const cublasLtMatmulHeuristicResult_t *res) {
    lt_entry *e = (lt_entry *)calloc(1, sizeof *e);
    if (!e) return NULL;
    e->key = *key;
    e->epi_used = epi;
    e->algo = res->algo;
    if (key->nb != n || key->kb != k) {
        cublasLtMatrixLayout_t la2 = NULL, lb2 = NULL, lc2 = NULL;
        cublasLtMatmulHeuristicResult_t r2;
        int found = 0, nb = key->nb, kb = key->kb;
        h->queries++;
        bool ok = (kb == k || cublasLtMatrixLayoutCreate(&la2, ab, ta ? kb : m, ta ? m : kb, key->lda) == 0) &&
                  cublasLtMatrixLayoutCreate(&lb2, ab, tb ? nb : kb, tb ? kb : nb, key->ldb) == 0 &&
                  cublasLtMatrixLayoutCreate(&lc2, CUDA_R_32F, m, nb, key->ldd) == 0 &&
                  cublasLtMatmulAlgoGetHeuristic(h->lt, op, la2 ? la2 : la, lb2, lc2, lc2, pref, 1, &r2, &found) == 0 &&
                  found;
        if (ok) e->algo = r2.algo;
        if (lc2) cublasLtMatrixLayoutDestroy(lc2);
        if (lb2) cublasLtMatrixLayoutDestroy(lb2);
        if (la2) cublasLtMatrixLayoutDestroy(la2);
        if (!ok) {
            free(e);
            return NULL; // not cached: the next call asks the heuristic again
        }
    }
    if (!link_entry(h, e)) {
        free(e);
        return NULL;
    }
    return e;
}

// D[m, n] (column-major, ld ldd) = op(A) op(B) + beta D, and the epilogue
// `epi` on vec: EPI_BIAS adds bias vec[m] (a kernel does when cuBLASLt
// refuses it); EPI_BGRADB writes vec[n] = sums of op(B) over k, and
// *epi_done says whether it did (else the caller sums).  tok: which of n, k
// is the token count (TOK_N, TOK_K).
int gemm(sq_cu_blas *h, int bf16, float *D, int ldd, const void *A, int lda, bool ta, const void *B, int ldb, bool tb,
         int m, int n, int k, int tok, float beta, int epi, float *vec, int *epi_done, cudaStream_t s) {
    cudaDataType_t ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasStatus_t st;
    int rc = -1;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    // The epilogue needs a 16-byte aligned vector; otherwise a kernel adds
    // the bias, or the caller sums the bias gradient.
    int epi_on = vec && epi != EPI_NONE && (uintptr_t)vec % 16 == 0 ? epi : EPI_NONE;
    const float *bias = vec;
    uint32_t al_a = alignment(A), al_b = alignment(B), al_d = alignment(D);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    const float alpha = 1.0f;
    lt_key key; // all int fields: no padding, so memcmp compares the values
    lt_entry *hit = NULL;
#define LT(call)                                                                                                       \
    do {                                                                                                               \
        if ((st = (call)) != CUBLAS_STATUS_SUCCESS) goto done;                                                         \
    } while (0)
    LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    LT(cublasLtMatrixLayoutCreate(&la, ab, ta ? k : m, ta ? m : k, lda));
    LT(cublasLtMatrixLayoutCreate(&lb, ab, tb ? n : k, tb ? k : n, ldb));
    LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, ldd));
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &h->ws_size,
                                            sizeof h->ws_size));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d));
    tok = h->token_buckets ? tok : TOK_N;
    key = {bf16, m, tok == TOK_N ? (n + LT_BUCKET - 1) / LT_BUCKET * LT_BUCKET : n,
           tok == TOK_K ? (k + LT_BUCKET - 1) / LT_BUCKET * LT_BUCKET : k, lda, ldb, ldd, ta, tb, epi_on, tok,
           al_a, al_b, al_d};
    hit = h->use_cache ? lookup(h, &key) : NULL;
    if (hit && set_epilogue(op, hit->epi_used, bias) == CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulHeuristicResult_t chk;
        if (cublasLtMatmulAlgoCheck(h->lt, op, la, lb, lc, lc, &hit->algo, &chk) == CUBLAS_STATUS_SUCCESS &&
            chk.workspaceSize <= h->ws_size) {
            res.algo = hit->algo;
            epi_on = hit->epi_used;
            found = 1;
        }
    }
    for (int attempt = 0; attempt < 2 && !found; attempt++) {
        LT(set_epilogue(op, epi_on, bias));
        h->queries++;
        st = cublasLtMatmulAlgoGetHeuristic(h->lt, op, la, lb, lc, lc, pref, 1, &res, &found);
        if (st != CUBLAS_STATUS_SUCCESS) found = 0;
        if (!found && epi_on == EPI_NONE) break;
        if (!found) epi_on = EPI_NONE; // retry without the epilogue
    }
    // A new bucket: its algorithm, when it suits this call too, is used at
    // once, so that the algorithm (and so the rounding) is a function of the
    // call's shape alone, not of the shapes a process met before (a resumed
    // run must compute what the uninterrupted one did).
    if (found && !hit && h->use_cache &&
        (hit = remember(h, &key, epi_on, op, la, pref, m, n, k, ta, tb, ab, &res)) != NULL) {
        cublasLtMatmulHeuristicResult_t chk;
        if (set_epilogue(op, hit->epi_used, bias) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulAlgoCheck(h->lt, op, la, lb, lc, lc, &hit->algo, &chk) == CUBLAS_STATUS_SUCCESS &&
            chk.workspaceSize <= h->ws_size)
            res.algo = hit->algo;
        else
            LT(set_epilogue(op, epi_on, bias)); // the heuristic's own choice, as found
    }
    if (!found) {
        sq_err("cuBLASLt: no algorithm for %s %dx%dx%d (%c%c)", bf16 ? "bf16" : "fp32", m, n, k, ta ? 'T' : 'N',
               tb ? 'T' : 'N');
        goto out;
    }
    LT(cublasLtMatmul(h->lt, op, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &res.algo, h->ws, h->ws_size, s));
    if (epi == EPI_BIAS && vec && epi_on == EPI_NONE) cuda_add_bias(D, bias, n, m, s);
    if (epi_done) *epi_done = epi_on != EPI_NONE;
    rc = 0;
done:
    if (rc) sq_err("cuBLASLt: %s (%s %dx%dx%d)", cublasLtGetStatusString(st), bf16 ? "bf16" : "fp32", m, n, k);
out:
#undef LT
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return rc;
}

const void *pick(sq_cu_act a, int bf16) { return bf16 ? (const void *)a.h : (const void *)a.f; }

} // namespace

extern "C" int cuda_blas_new(size_t workspace_bytes, sq_cu_blas **out) {
    sq_cu_blas *h = (sq_cu_blas *)sq_calloc(1, sizeof *h);
    if (!h) return -1;
    cublasStatus_t st = cublasLtCreate(&h->lt);
    if (st != CUBLAS_STATUS_SUCCESS) {
        free(h);
        return sq_err("cuBLASLt: %s", cublasLtGetStatusString(st));
    }
    cudaError_t e = cudaMalloc(&h->ws, workspace_bytes);
    if (e != cudaSuccess) {
        cublasLtDestroy(h->lt);
        free(h);
        return sq_err("cuBLASLt workspace (%zu bytes): %s", workspace_bytes, cudaGetErrorString(e));
    }
    h->ws_size = workspace_bytes;
    const char *cache = getenv("SQ_LT_CACHE"); // 0: ask the heuristic on every call (for comparison)
    h->use_cache = !(cache && !strcmp(cache, "0"));
    *out = h;
    return 0;
}

extern "C" int cuda_blas_bucket(const sq_cu_blas *h) { return h->use_cache ? LT_BUCKET : 0; }

extern "C" void cuda_blas_bgrad_epilogue(sq_cu_blas *h, int on) { h->bgrad_epi = on != 0; }

extern "C" void cuda_blas_token_buckets(sq_cu_blas *h, int on) { h->token_buckets = on != 0; }

extern "C" void cuda_blas_bgrad_counts(const sq_cu_blas *h, long *fused, long *summed) {
    *fused = h->bgrad_fused;
    *summed = h->bgrad_summed;
}

extern "C" long cuda_blas_queries(const sq_cu_blas *h) { return h->queries; }

extern "C" void cuda_blas_free(sq_cu_blas *h) {
    if (!h) return;
    for (int b = 0; b < h->n_buckets; b++)
        for (lt_entry *e = h->bucket[b], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(h->bucket);
    cudaFree(h->ws);
    cublasLtDestroy(h->lt);
    free(h);
}

extern "C" int cuda_matmul_forward(sq_cu_blas *h, float *out, sq_cu_act in, sq_cu_act w, const float *b, int N, int C,
                                   int OC, int bf16, cudaStream_t s) {
    if (N < 1) return 0;
    return gemm(h, bf16, out, OC, pick(w, bf16), C, true, pick(in, bf16), C, false, OC, N, C, TOK_N, 0.0f, EPI_BIAS,
                (float *)b, NULL, s);
}

extern "C" int cuda_matmul_backward(sq_cu_blas *h, float *din, float *dw, float *db, sq_cu_act dout, sq_cu_act in,
                                    sq_cu_act w, int N, int C, int OC, int din_accumulate, int bf16, double *partial,
                                    cudaStream_t s) {
    if (N < 1) return 0;
    if (din && gemm(h, bf16, din, C, pick(w, bf16), C, false, pick(dout, bf16), OC, false, C, N, OC, TOK_N,
                    din_accumulate ? 1.0f : 0.0f, EPI_NONE, NULL, NULL, s))
        return -1;
    // BGRADB's vector: the first OC floats of partial (it holds
    // cuda_colsum_scratch(OC) doubles, 256-byte aligned in the backend).
    bool fuse = db && bf16 && h->bgrad_epi;
    int fused = 0;
    if (gemm(h, bf16, dw, C, pick(in, bf16), C, false, pick(dout, bf16), OC, true, C, OC, N, TOK_K, 1.0f,
             fuse ? EPI_BGRADB : EPI_NONE, fuse ? (float *)partial : NULL, &fused, s))
        return -1;
    if (fused) {
        h->bgrad_fused++;
        add_vec_kernel<<<sq_cdiv(OC, 256), 256, 0, s>>>(db, (const float *)partial, OC);
    } else if (db) {
        h->bgrad_summed += fuse;
        cuda_colsum(db, dout.f, NULL, 0, partial, N, OC, s);
    }
    return 0;
}

extern "C" void cuda_add_bias(float *out, const float *b, int N, int OC, cudaStream_t s) {
    size_t n = (size_t)N * OC;
    if (n) add_bias_kernel<<<sq_cdiv((long long)n, 256), 256, 0, s>>>(out, b, N, OC);
}
