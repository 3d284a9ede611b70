// The baseline table: SSE2 on x86-64, NEON on arm64, whatever the build targets elsewhere.
#define NK_ISA NK_ISA_BASELINE
#define NK_TABLE nk_kernels_baseline
#define NK_LANES 8
#include "kernels_isa.h"
