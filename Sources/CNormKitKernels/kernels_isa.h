// One instruction set's table: included by each nk_isa_*.c file with NK_ISA (an nk_isa value),
// NK_TABLE (the table's name) and NK_LANES defined, under that file's target attribute.
#include "CNormKitKernels.h"

#define NK_MIN(a, b) ((a) < (b) ? (a) : (b))

// Each element type: its compute type NK_T, its storage type NK_S, and how the data is stored
// (storage_access.h); kernels_body.h undefines them.
#define NK_STORAGE_SAME 0
#define NK_STORAGE_F16 1
#define NK_STORAGE_BF16 2

#define NK_T float
#define NK_S float
#define NK_STORAGE NK_STORAGE_SAME
#define NK_SUFFIX f32
#define NK_TABLE_TYPE nk_kernels_f32
#include "kernels_body.h"

#define NK_T double
#define NK_S double
#define NK_STORAGE NK_STORAGE_SAME
#define NK_SUFFIX f64
#define NK_TABLE_TYPE nk_kernels_f64
#include "kernels_body.h"

#define NK_T float
#define NK_S unsigned short
#define NK_STORAGE NK_STORAGE_F16
#define NK_SUFFIX f16
#define NK_TABLE_TYPE nk_kernels_half
#include "kernels_body.h"

#define NK_T float
#define NK_S unsigned short
#define NK_STORAGE NK_STORAGE_BF16
#define NK_SUFFIX bf16
#define NK_TABLE_TYPE nk_kernels_half
#include "kernels_body.h"

#ifdef NK_BEYOND_CACHE_TABLE
extern const nk_kernels NK_BEYOND_CACHE_TABLE;
#else
#define NK_BEYOND_CACHE_TABLE NK_TABLE
#endif

const nk_kernels NK_TABLE = {
    .isa = NK_ISA,
    .f32 = table_f32,
    .f64 = table_f64,
    .f16 = table_f16,
    .bf16 = table_bf16,
    .half = {.f16_to_f32 = to_float_f16, .f32_to_f16 = from_float_f16, .bf16_to_f32 = to_float_bf16,
             .f32_to_bf16 = from_float_bf16},
    .in_cache = {&NK_TABLE.f32, &NK_TABLE.f64, &NK_TABLE.f16, &NK_TABLE.bf16},
    .beyond_cache = {&NK_BEYOND_CACHE_TABLE.f32, &NK_BEYOND_CACHE_TABLE.f64, &NK_TABLE.f16, &NK_TABLE.bf16},
};
