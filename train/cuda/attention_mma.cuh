// Attention version 3 (attention_mma.cu), dispatched by attention.cu: the
// same contract as cuda_attention_forward/backward for head size 64, 16-byte
// aligned q, k, v and rows short enough for a whole row's keys to fit in
// shared memory (max_position_embeddings 512 does); the backward takes
// delta already computed.
#ifndef SQ_TRAIN_CUDA_ATTENTION_MMA_CUH
#define SQ_TRAIN_CUDA_ATTENTION_MMA_CUH

#include "common.cuh"

bool attn_v3_supported(int C, int NH, int max_rows_len, const float *q, const float *k, const float *v);
void attn_v3_forward(sq_cu_act ctx, float *lse, const float *q, const float *k, const float *v,
                     const sq_cu_tokens *tk, sq_cu_drop d, int max_pos, int C, int NH, cudaStream_t s);
void attn_v3_backward(sq_cu_act dq, sq_cu_act dk, sq_cu_act dv, const float *delta, const float *dctx,
                      const float *q, const float *k, const float *v, const float *lse, const sq_cu_tokens *tk,
                      sq_cu_drop d, int max_pos, int C, int NH, cudaStream_t s);

#endif
