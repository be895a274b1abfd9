/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11): a counter-based generator, so any element's random number is a
 * pure function of (key, counter) and the CPU, the GPU and any number of ranks
 * draw the same values without sharing state.  Header-only, usable from C and
 * CUDA.  sq keys dropout by (seed; element / 4, global sample index, step,
 * layer and site): see sq_dropout_keep. */
#ifndef SQ_PHILOX_H
#define SQ_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define SQ_HD __host__ __device__ __forceinline__
#else
#define SQ_HD static inline
#endif

typedef struct { uint32_t v[4]; } sq_philox_ctr;

SQ_HD uint32_t sq_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

SQ_HD sq_philox_ctr sq_philox4x32_10(sq_philox_ctr c, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = sq_mulhilo32(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = sq_mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
        sq_philox_ctr n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

/* The 24 high bits as a float in [0, 1). */
SQ_HD float sq_philox_uniform(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* Dropout sites, the fourth counter word with the layer (embeddings: layer
 * SQ_DROP_EMB_LAYER).  Element indices are positions in a sample that do not
 * depend on how the batch is padded: t * hidden + c for hidden states, and
 * (head * max_pos + query) * max_pos + key for attention probabilities, where
 * max_pos is the config's max_position_embeddings. */
enum { SQ_DROP_EMB = 0, SQ_DROP_ATTN_PROBS = 1, SQ_DROP_ATTN_OUT = 2, SQ_DROP_FFN_OUT = 3 };
#define SQ_DROP_EMB_LAYER 0xFFFFu

/* Whether element `elem` of the sample with global index `sample` survives
 * dropout with probability p at optimizer step `step`.  One Philox call
 * serves four consecutive elements (a kernel can use all four lanes). */
SQ_HD sq_philox_ctr sq_dropout_draw(uint64_t seed, uint32_t step, uint32_t sample, uint32_t layer,
                                    uint32_t site, uint32_t elem)
{
    sq_philox_ctr c = {{elem >> 2, sample, step, (layer << 8) | site}};
    return sq_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Lane elem & 3 of a draw made for elem (or any element of its group of 4). */
SQ_HD int sq_dropout_lane_keep(sq_philox_ctr r, uint32_t elem, float p)
{
    return sq_philox_uniform(r.v[elem & 3]) >= p;
}

SQ_HD int sq_dropout_keep(uint64_t seed, uint32_t step, uint32_t sample, uint32_t layer,
                          uint32_t site, uint32_t elem, float p)
{
    return sq_dropout_lane_keep(sq_dropout_draw(seed, step, sample, layer, site, elem), elem, p);
}

#undef SQ_HD
#endif
