// The bare pass of `normkit bench --bare-pass`: the least work that moves a case's bytes, to
// time beside the case. Not part of the library.
#ifndef BARE_PASS_H
#define BARE_PASS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The vectors a bare pass moves: 16, 32 or 64 bytes (the baseline, AVX2, AVX-512). Pick the one
/// NormKit's loops run (`InstructionSet.active`); on other architectures every width runs the
/// baseline's.
typedef enum bare_pass_width {
    BARE_PASS_16 = 0,
    BARE_PASS_32 = 1,
    BARE_PASS_64 = 2,
} bare_pass_width;

/// Copies `bytes` from `x` to `y` (a forward pass's traffic: read x, write y); `streamed` stores
/// past the caches. The buffers must not overlap.
void bare_pass_copy(bare_pass_width width, const void *x, void *y, long bytes, int streamed);

/// dx = x XOR dy over `bytes` (a backward pass's traffic: read x and dy, write dx); `streamed` as
/// bare_pass_copy's.
void bare_pass_combine(bare_pass_width width, const void *x, const void *dy, void *dx, long bytes, int streamed);

/// The XOR of the `bytes` bytes at `x` (a statistics sweep's traffic: read x, write nothing).
unsigned char bare_pass_read(bare_pass_width width, const void *x, long bytes);

/// Orders the calling thread's streamed stores before its later ones (sfence on x86-64).
void bare_pass_fence(void);

#ifdef __cplusplus
}
#endif

#endif
