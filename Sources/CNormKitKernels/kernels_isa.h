// One instruction set's table: included by each nk_isa_*.c file with NK_ISA (an nk_isa value),
// NK_TABLE (the table's name) and NK_LANES defined, under that file's target attribute.
#include "CNormKitKernels.h"

#define NK_MIN(a, b) ((a) < (b) ? (a) : (b))
// Streaming stores are weakly ordered: fence them before the caller's threads meet.
#if defined(__x86_64__)
#define NK_FENCE(stream) ({ if (stream) __builtin_ia32_sfence(); })
#else
#define NK_FENCE(stream) ((void)(stream))
#endif

#define NK_T float
#define NK_SUFFIX f32
#include "kernels_body.h"
#undef NK_T
#undef NK_SUFFIX

#define NK_T double
#define NK_SUFFIX f64
#include "kernels_body.h"
#undef NK_T
#undef NK_SUFFIX

#include "conversions_body.h"

const nk_kernels NK_TABLE = {.isa = NK_ISA, .f32 = table_f32, .f64 = table_f64, .half = conversions};
