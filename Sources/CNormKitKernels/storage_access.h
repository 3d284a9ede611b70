// How kernels_body.h reads and writes the data (x, y, dy, dx) of one element type, chosen by
// NK_STORAGE (kernels_isa.h): NK_STORAGE_SAME stores the compute type itself; NK_STORAGE_F16 and
// NK_STORAGE_BF16 store the bit patterns of binary16 and bfloat16, widened to float vectors on
// load and rounded to nearest, ties to even, on store (NaN stays NaN, overflow goes to ±∞). With
// F16C (NK_HAS_F16C) binary16 converts in hardware; the baseline converts on the bits, lane by
// lane in integer vectors.
//
// NK_XLOAD(p): NK_LANES elements as a compute vector. NK_XPUT(stream, p, v): stores a compute
// vector, past the caches when `stream` is set. NK_XSTORE(p, v): an ordinary store.
// NK_XGET(p), NK_XSET(p, value): one element.
// The scalar conversions (half_bits.h) come with CNormKitKernels.h.

#if NK_STORAGE == NK_STORAGE_SAME
#define NK_XLOAD(p) NK_LOAD(p)
#define NK_XPUT(stream, p, v) NK_SPUT(stream, p, v)
#define NK_XGET(p) (*(p))
#define NK_XSET(p, value) (*(p) = (value))
#else
// The 32-bit lanes the 16-bit formats are converted in.
typedef unsigned int NK_FN(nk_bits_vector) __attribute__((ext_vector_type(NK_LANES)));
#define NK_UV NK_FN(nk_bits_vector)
#define NK_WIDEN_BF16(sv) ((NK_V)(__builtin_convertvector((sv), NK_UV) << 16))
#define NK_NARROW_BF16(v)                                                               \
    ({                                                                                  \
        NK_V nk_v_ = (v);                                                               \
        NK_UV nk_u_ = (NK_UV)nk_v_, nk_nan_ = (NK_UV)(nk_v_ != nk_v_);                  \
        NK_UV nk_rounded_ = (nk_u_ + 0x7FFF + ((nk_u_ >> 16) & 1)) >> 16;               \
        __builtin_convertvector((nk_rounded_ & ~nk_nan_) | (((nk_u_ >> 16) | 0x40) & nk_nan_), NK_SV); \
    })
#if defined(NK_HAS_F16C)
typedef _Float16 NK_FN(nk_f16_vector) __attribute__((ext_vector_type(NK_LANES)));
#define NK_WIDEN_F16(sv) __builtin_convertvector((NK_FN(nk_f16_vector))(sv), NK_V)
// The empty asm keeps the conversion in a register: clang would fold the store into
// `vcvtps2ph` with a memory operand, which AMD Zen 4 runs many times slower (LayerNorm
// 8192×1024 on Float16: 1.0 ms folded, against 0.8 ms for bfloat16).
#define NK_NARROW_F16(v)                                                  \
    ({                                                                    \
        NK_SV nk_n_ = (NK_SV)__builtin_convertvector((v), NK_FN(nk_f16_vector)); \
        __asm__("" : "+x"(nk_n_));                                        \
        nk_n_;                                                            \
    })
#else
// Widening: the exponent and fraction moved to float's positions and scaled by 2¹¹² (exact, for
// normal and subnormal values alike); infinities and NaNs get float's all-ones exponent.
#define NK_WIDEN_F16(sv)                                                                \
    ({                                                                                  \
        NK_UV nk_h_ = __builtin_convertvector((sv), NK_UV);                             \
        NK_UV nk_magnitude_ = (nk_h_ & 0x7FFF) << 13;                                   \
        NK_UV nk_special_ = (NK_UV)((nk_h_ & 0x7FFF) >= 0x7C00);                        \
        NK_UV nk_scaled_ = (NK_UV)((NK_V)nk_magnitude_ * 0x1p112f);                     \
        NK_UV nk_bits_ = (nk_scaled_ & ~nk_special_) | ((nk_magnitude_ | 0x7F800000) & nk_special_); \
        (NK_V)(nk_bits_ | (nk_h_ & 0x8000) << 16);                                      \
    })
// Narrowing, by range of |x|: at least 2¹⁶ (or ∞, NaN) gives ±∞ or a quiet NaN; below 2⁻¹⁴ the
// float addition of 0.5 rounds the subnormal result; otherwise the exponent is rebiased and
// the dropped 13 bits round to nearest, ties to even (a carry may reach ∞, as it should).
#define NK_NARROW_F16(v)                                                                \
    ({                                                                                  \
        NK_UV nk_u_ = (NK_UV)(v);                                                       \
        NK_UV nk_sign_ = nk_u_ & 0x80000000, nk_f_ = nk_u_ ^ nk_sign_;                  \
        NK_UV nk_big_ = (NK_UV)(nk_f_ >= 0x47800000), nk_small_ = (NK_UV)(nk_f_ < 0x38800000); \
        NK_UV nk_nan_ = (NK_UV)(nk_f_ > 0x7F800000);                                    \
        NK_UV nk_special_ = (0x7C00 & ~nk_nan_) | ((0x7E00 | ((nk_f_ >> 13) & 0x3FF)) & nk_nan_); \
        NK_UV nk_subnormal_ = (NK_UV)((NK_V)nk_f_ + 0.5f) - 0x3F000000;                 \
        NK_UV nk_normal_ = (nk_f_ + 0xC8000FFF + ((nk_f_ >> 13) & 1)) >> 13;            \
        NK_UV nk_o_ = (nk_special_ & nk_big_) | (nk_subnormal_ & nk_small_) | (nk_normal_ & ~(nk_big_ | nk_small_)); \
        __builtin_convertvector(nk_o_ | nk_sign_ >> 16, NK_SV);                         \
    })
#endif
#if NK_STORAGE == NK_STORAGE_F16
#define NK_WIDEN(sv) NK_WIDEN_F16(sv)
#define NK_NARROW(v) NK_NARROW_F16(v)
#define NK_XGET(p) nk_f16_bits_to_f32(*(p))
#define NK_XSET(p, value) (*(p) = nk_f32_to_f16_bits(value))
#else
#define NK_WIDEN(sv) NK_WIDEN_BF16(sv)
#define NK_NARROW(v) NK_NARROW_BF16(v)
#define NK_XGET(p) nk_bf16_bits_to_f32(*(p))
#define NK_XSET(p, value) (*(p) = nk_f32_to_bf16_bits(value))
#endif
#define NK_XLOAD(p) ({ NK_SV nk_sv_; __builtin_memcpy(&nk_sv_, (p), sizeof nk_sv_); NK_WIDEN(nk_sv_); })
#define NK_XPUT(stream, p, v) NK_SPUT(stream, p, NK_NARROW(v))
#endif
#define NK_XSTORE(p, v) NK_XPUT(0, p, v)
