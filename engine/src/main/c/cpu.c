/*
 * Which kernel variant this CPU (and its operating system) can run; compiled without ISA flags so that
 * it runs anywhere. libgcc's checks include the OS saving the wider registers (XGETBV).
 */
#define RS_EXPORT __attribute__((visibility("default")))

enum { RS_ISA_NONE = 0, RS_ISA_AVX2 = 1, RS_ISA_AVX512 = 2 };

RS_EXPORT int rs_cpu_isa(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) {
        return RS_ISA_NONE;
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni")) {
        return RS_ISA_AVX512;
    }
    return RS_ISA_AVX2;
}
