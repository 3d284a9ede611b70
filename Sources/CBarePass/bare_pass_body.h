// One width's passes: included by bare_pass.c with BP_BYTES (the vector's bytes) and BP_NAME(n)
// defined, under that width's target attribute. The output is peeled to the vector's alignment
// so that every vector store, streamed or not, is aligned.
typedef unsigned long long BP_NAME(vector) __attribute__((ext_vector_type(BP_BYTES / 8)));
#define BP_V BP_NAME(vector)
#define BP_LOAD(p) ({ BP_V bp_v_; __builtin_memcpy(&bp_v_, (p), BP_BYTES); bp_v_; })
#define BP_PUT(streamed, p, v)                                     \
    ({                                                             \
        BP_V bp_s_ = (v);                                          \
        if (streamed) __builtin_nontemporal_store(bp_s_, (BP_V *)(p)); \
        else *(BP_V *)(p) = bp_s_;                                 \
    })

static long BP_NAME(peel)(const char *y, long bytes) {
    long peel = (long)((BP_BYTES - (unsigned long)y % BP_BYTES) % BP_BYTES);
    return peel < bytes ? peel : bytes;
}

static void BP_NAME(copy)(const char *x, char *y, long bytes, int streamed) {
    long i = 0;
    for (const long peel = BP_NAME(peel)(y, bytes); i < peel; i++) y[i] = x[i];
    for (; i + 2 * BP_BYTES <= bytes; i += 2 * BP_BYTES) {
        BP_V a = BP_LOAD(x + i), b = BP_LOAD(x + i + BP_BYTES);
        BP_PUT(streamed, y + i, a);
        BP_PUT(streamed, y + i + BP_BYTES, b);
    }
    for (; i + BP_BYTES <= bytes; i += BP_BYTES) BP_PUT(streamed, y + i, BP_LOAD(x + i));
    for (; i < bytes; i++) y[i] = x[i];
}

static void BP_NAME(combine)(const char *x, const char *dy, char *dx, long bytes, int streamed) {
    long i = 0;
    for (const long peel = BP_NAME(peel)(dx, bytes); i < peel; i++) dx[i] = x[i] ^ dy[i];
    for (; i + 2 * BP_BYTES <= bytes; i += 2 * BP_BYTES) {
        BP_V a = BP_LOAD(x + i) ^ BP_LOAD(dy + i), b = BP_LOAD(x + i + BP_BYTES) ^ BP_LOAD(dy + i + BP_BYTES);
        BP_PUT(streamed, dx + i, a);
        BP_PUT(streamed, dx + i + BP_BYTES, b);
    }
    for (; i + BP_BYTES <= bytes; i += BP_BYTES) BP_PUT(streamed, dx + i, BP_LOAD(x + i) ^ BP_LOAD(dy + i));
    for (; i < bytes; i++) dx[i] = x[i] ^ dy[i];
}

#undef BP_V
#undef BP_LOAD
#undef BP_PUT
