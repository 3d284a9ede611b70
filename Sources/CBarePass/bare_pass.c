#include "bare_pass.h"

#define BP_BYTES 16
#define BP_NAME(n) bp16_##n
#include "bare_pass_body.h"
#undef BP_BYTES
#undef BP_NAME

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define BP_BYTES 32
#define BP_NAME(n) bp32_##n
#include "bare_pass_body.h"
#undef BP_BYTES
#undef BP_NAME
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#define BP_BYTES 64
#define BP_NAME(n) bp64_##n
#include "bare_pass_body.h"
#undef BP_BYTES
#undef BP_NAME
#pragma clang attribute pop
#endif

void bare_pass_copy(bare_pass_width width, const void *x, void *y, long bytes, int streamed) {
#if defined(__x86_64__)
    if (width == BARE_PASS_64) bp64_copy(x, y, bytes, streamed);
    else if (width == BARE_PASS_32) bp32_copy(x, y, bytes, streamed);
    else
#endif
        bp16_copy(x, y, bytes, streamed);
}

void bare_pass_combine(bare_pass_width width, const void *x, const void *dy, void *dx, long bytes, int streamed) {
#if defined(__x86_64__)
    if (width == BARE_PASS_64) bp64_combine(x, dy, dx, bytes, streamed);
    else if (width == BARE_PASS_32) bp32_combine(x, dy, dx, bytes, streamed);
    else
#endif
        bp16_combine(x, dy, dx, bytes, streamed);
}

unsigned char bare_pass_read(bare_pass_width width, const void *x, long bytes) {
#if defined(__x86_64__)
    if (width == BARE_PASS_64) return bp64_read(x, bytes);
    if (width == BARE_PASS_32) return bp32_read(x, bytes);
#endif
    return bp16_read(x, bytes);
}

void bare_pass_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
