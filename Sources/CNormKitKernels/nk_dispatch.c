// Chooses the table: the best instruction set that both the CPU (cpuid) and the OS (xgetbv:
// the OS saves the vector registers) support, lowered by NORMKIT_SIMD when it is set.
#include "CNormKitKernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <stdint.h>
#include <sys/sysctl.h>
#endif

extern const nk_kernels nk_kernels_baseline;
#if defined(__x86_64__)
extern const nk_kernels nk_kernels_avx2;
extern const nk_kernels nk_kernels_avx512;
#include <cpuid.h>

static unsigned long long nk_xgetbv(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static nk_isa nk_detect(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NK_ISA_BASELINE;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(osxsave && avx && fma && f16c)) return NK_ISA_BASELINE;
    const unsigned long long xcr0 = nk_xgetbv();
    if ((xcr0 & 0x6) != 0x6) return NK_ISA_BASELINE;  // XMM and YMM state
    if (__get_cpuid_max(0, 0) < 7) return NK_ISA_BASELINE;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    if (!avx2) return NK_ISA_BASELINE;
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);  // F, DQ, BW, VL
    if (avx512 && (xcr0 & 0xe6) == 0xe6) return NK_ISA_AVX512;  // and opmask, ZMM state
    return NK_ISA_AVX2;
}

int nk_cpu_is_intel(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    return b == 0x756E6547 && d == 0x49656E69 && c == 0x6C65746E;  // "Genu" "ineI" "ntel"
}
#else
static nk_isa nk_detect(void) { return NK_ISA_BASELINE; }
int nk_cpu_is_intel(void) { return 0; }
#endif

static const nk_kernels *nk_table_for(nk_isa isa) {
#if defined(__x86_64__)
    if (isa == NK_ISA_AVX512) return &nk_kernels_avx512;
    if (isa == NK_ISA_AVX2) return &nk_kernels_avx2;
#endif
    (void)isa;
    return &nk_kernels_baseline;
}

static const nk_kernels *nk_active = 0;

nk_isa nk_isa_supported(void) { return nk_detect(); }

nk_isa nk_isa_select(nk_isa isa) {
    const nk_isa best = nk_detect();
    const nk_isa chosen = isa < best ? isa : best;
    __atomic_store_n(&nk_active, nk_table_for(chosen), __ATOMIC_RELEASE);
    return chosen;
}

static nk_isa nk_requested(void) {
    const char *value = getenv("NORMKIT_SIMD");
    if (!value) return NK_ISA_AVX512;
    if (strcmp(value, "baseline") == 0 || strcmp(value, "sse2") == 0 || strcmp(value, "neon") == 0) return NK_ISA_BASELINE;
    if (strcmp(value, "avx2") == 0) return NK_ISA_AVX2;
    return NK_ISA_AVX512;
}

const nk_kernels *nk_kernels_active(void) {
    const nk_kernels *table = __atomic_load_n(&nk_active, __ATOMIC_ACQUIRE);
    if (table) return table;
    nk_isa_select(nk_requested());
    return __atomic_load_n(&nk_active, __ATOMIC_ACQUIRE);
}

// The size of a cache that cpu0 sees, from Linux's sysfs ("32768K", "48K"), or 0: the highest
// level's (`level` 0), or level `level`'s data or unified cache.
static long nk_sysfs_cache_bytes(long level_wanted) {
    long best_level = 0, best_bytes = 0;
    for (int index = 0; index < 16; index++) {
        char path[96], text[32];
        long level = 0, size = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        FILE *file = fopen(path, "r");
        if (!file) break;
        if (fgets(text, sizeof text, file)) level = strtol(text, 0, 10);
        fclose(file);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        int instructions = 0;
        if ((file = fopen(path, "r"))) {
            instructions = fgets(text, sizeof text, file) && strncmp(text, "Instruction", 11) == 0;
            fclose(file);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (instructions || !(file = fopen(path, "r"))) continue;
        char *end = 0;
        if (fgets(text, sizeof text, file)) size = strtol(text, &end, 10);
        fclose(file);
        if (end && (*end == 'K' || *end == 'k')) size <<= 10;
        else if (end && (*end == 'M' || *end == 'm')) size <<= 20;
        if (size <= 0) continue;
        if (level_wanted ? level == level_wanted : level > best_level) best_level = level, best_bytes = size;
    }
    return best_bytes;
}

// A cache size that macOS reports (`sysctl hw.perflevel0.l2cachesize`, the performance cores'
// on Apple silicon, else `hw.l2cachesize`): the first of `names` it knows, or 0; 0 elsewhere.
static long nk_sysctl_cache_bytes(const char *const *names, int count) {
#if defined(__APPLE__)
    for (int i = 0; i < count; i++) {
        int64_t value = 0;
        size_t length = sizeof value;
        if (sysctlbyname(names[i], &value, &length, 0, 0) == 0 && length == sizeof value && value > 0) return (long)value;
    }
#else
    (void)names, (void)count;
#endif
    return 0;
}

// sysconf(name) where glibc names the caches' sizes, else 0.
#if defined(_SC_LEVEL1_DCACHE_SIZE)
#define NK_SYSCONF_BYTES(name) sysconf(name)
#else
#define NK_SYSCONF_BYTES(name) 0L
#endif

// A cache's size: from sysfs (`level`, 0: the highest), else the first of macOS's sysctl `names`
// it knows, else `from_sysconf`, else `otherwise`.
static long nk_cache_bytes(long level, const char *const *names, int count, long from_sysconf, long otherwise) {
    long bytes = nk_sysfs_cache_bytes(level);
    if (bytes <= 0) bytes = nk_sysctl_cache_bytes(names, count);
    if (bytes <= 0) bytes = from_sysconf;
    return bytes > 0 ? bytes : otherwise;
}

long nk_last_level_cache_bytes(void) {
    // sysfs first: glibc's sysconf reports a whole AMD package's L3 (384 MiB on this project's
    // 32 MiB virtual machine), which no single core's data can use.
    static const char *const names[] = {"hw.l3cachesize", "hw.perflevel0.l2cachesize", "hw.l2cachesize"};
    long from_sysconf = NK_SYSCONF_BYTES(_SC_LEVEL3_CACHE_SIZE);
    if (from_sysconf <= 0) from_sysconf = NK_SYSCONF_BYTES(_SC_LEVEL2_CACHE_SIZE);
    return nk_cache_bytes(0, names, 3, from_sysconf, 32L << 20);
}

long nk_level1_data_cache_bytes(void) {
    static const char *const names[] = {"hw.perflevel0.l1dcachesize", "hw.l1dcachesize"};
    return nk_cache_bytes(1, names, 2, NK_SYSCONF_BYTES(_SC_LEVEL1_DCACHE_SIZE), 32L << 10);
}

long nk_level2_cache_bytes(void) {
    static const char *const names[] = {"hw.perflevel0.l2cachesize", "hw.l2cachesize"};
    return nk_cache_bytes(2, names, 2, NK_SYSCONF_BYTES(_SC_LEVEL2_CACHE_SIZE), 1L << 20);
}
