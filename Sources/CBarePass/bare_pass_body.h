// One width's passes: included by bare_pass.c with BP_BYTES (the vector's bytes) and BP_NAME(n)
// defined, under that width's target attribute. The output is peeled to the vector's alignment
// so that every vector store, streamed or not, is aligned. Streamed and ordinary stores run in
// loops of their own: with both in one loop, the compiler merged them into one ordinary store.
typedef unsigned long long BP_NAME(vector) __attribute__((ext_vector_type(BP_BYTES / 8)));
#define BP_V BP_NAME(vector)
#define BP_LOAD(p) ({ BP_V bp_v_; __builtin_memcpy(&bp_v_, (p), BP_BYTES); bp_v_; })
#define BP_STREAM(p, v) __builtin_nontemporal_store((v), (BP_V *)(p))
#define BP_STORE(p, v) ({ BP_V bp_s_ = (v); __builtin_memcpy((p), &bp_s_, BP_BYTES); })

static long BP_NAME(peel)(const char *y, long bytes) {
    long peel = (long)((BP_BYTES - (unsigned long)y % BP_BYTES) % BP_BYTES);
    return peel < bytes ? peel : bytes;
}

// y = x from byte i, two vectors at a time, with PUT; returns where the vectors end.
#define BP_COPY_VECTORS(PUT)                                                     \
    ({                                                                           \
        for (; i + 2 * BP_BYTES <= bytes; i += 2 * BP_BYTES) {                   \
            BP_V a = BP_LOAD(x + i), b = BP_LOAD(x + i + BP_BYTES);              \
            PUT(y + i, a);                                                       \
            PUT(y + i + BP_BYTES, b);                                            \
        }                                                                        \
        for (; i + BP_BYTES <= bytes; i += BP_BYTES) PUT(y + i, BP_LOAD(x + i)); \
    })

static void BP_NAME(copy)(const char *x, char *y, long bytes, int streamed) {
    long i = 0;
    for (const long peel = BP_NAME(peel)(y, bytes); i < peel; i++) y[i] = x[i];
    if (streamed) BP_COPY_VECTORS(BP_STREAM);
    else BP_COPY_VECTORS(BP_STORE);
    for (; i < bytes; i++) y[i] = x[i];
}

// dx = x ^ dy from byte i, as BP_COPY_VECTORS.
#define BP_COMBINE_VECTORS(PUT)                                                                           \
    ({                                                                                                    \
        for (; i + 2 * BP_BYTES <= bytes; i += 2 * BP_BYTES) {                                            \
            BP_V a = BP_LOAD(x + i) ^ BP_LOAD(dy + i), b = BP_LOAD(x + i + BP_BYTES) ^ BP_LOAD(dy + i + BP_BYTES); \
            PUT(dx + i, a);                                                                               \
            PUT(dx + i + BP_BYTES, b);                                                                    \
        }                                                                                                 \
        for (; i + BP_BYTES <= bytes; i += BP_BYTES) PUT(dx + i, BP_LOAD(x + i) ^ BP_LOAD(dy + i));       \
    })

static void BP_NAME(combine)(const char *x, const char *dy, char *dx, long bytes, int streamed) {
    long i = 0;
    for (const long peel = BP_NAME(peel)(dx, bytes); i < peel; i++) dx[i] = x[i] ^ dy[i];
    if (streamed) BP_COMBINE_VECTORS(BP_STREAM);
    else BP_COMBINE_VECTORS(BP_STORE);
    for (; i < bytes; i++) dx[i] = x[i] ^ dy[i];
}

// The XOR of x's `bytes` bytes: every byte read once, nothing written (a statistics sweep's
// traffic).
static unsigned char BP_NAME(read)(const char *x, long bytes) {
    BP_V a = {0}, b = {0};
    long i = 0;
    for (; i + 2 * BP_BYTES <= bytes; i += 2 * BP_BYTES) {
        a ^= BP_LOAD(x + i);
        b ^= BP_LOAD(x + i + BP_BYTES);
    }
    for (; i + BP_BYTES <= bytes; i += BP_BYTES) a ^= BP_LOAD(x + i);
    a ^= b;
    unsigned long long word = 0;
    for (int lane = 0; lane < BP_BYTES / 8; lane++) word ^= a[lane];
    unsigned char folded = 0;
    for (int byte = 0; byte < 8; byte++) folded ^= (unsigned char)(word >> (8 * byte));
    for (; i < bytes; i++) folded ^= (unsigned char)x[i];
    return folded;
}

#undef BP_V
#undef BP_LOAD
#undef BP_STREAM
#undef BP_STORE
#undef BP_COPY_VECTORS
#undef BP_COMBINE_VECTORS
