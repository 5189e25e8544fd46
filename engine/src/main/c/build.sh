#!/usr/bin/env bash
# Builds the native kernel tier: kernels.c once per ISA variant, attention.c (256-bit code, the same for every variant)
# once, plus the CPU check and the weight repacking, into one shared library that the engine loads with the FFM API and picks a variant from at
# run time.
# Usage: build.sh OUTPUT_DIR. Without gcc (or on a non-x86-64 build host) it builds nothing and says so:
# the jar then runs on the Java kernel tier.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
out="$1"
if [[ "$(uname -m)" != "x86_64" ]]; then
    echo "[razorstream native] not an x86-64 build host ($(uname -m)): no native kernel tier, the Java tier will run"
    exit 0
fi
if ! command -v "${CC:-gcc}" >/dev/null; then
    echo "[razorstream native] ${CC:-gcc} not found: no native kernel tier, the Java tier will run"
    exit 0
fi
cc="${CC:-gcc}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(-O3 -fPIC -std=c11 -Wall -Wextra -Werror -fvisibility=hidden -ffp-contract=off -fno-strict-aliasing)
avx2=(-mavx2 -mfma -mf16c -DRS_ISA=avx2)
avx512=(-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni -DRS_ISA=avx512)
"$cc" "${common[@]}" "${avx2[@]}" -c "$src/kernels.c" -o "$tmp/kernels_avx2.o"
"$cc" "${common[@]}" "${avx512[@]}" -c "$src/kernels.c" -o "$tmp/kernels_avx512.o"
"$cc" "${common[@]}" -mavx2 -mfma -mf16c -c "$src/attention.c" -o "$tmp/attention.o"
"$cc" "${common[@]}" -c "$src/cpu.c" -o "$tmp/cpu.o"
"$cc" "${common[@]}" -c "$src/repack.c" -o "$tmp/repack.o"
mkdir -p "$out"
"$cc" -shared -Wl,-z,noexecstack -o "$out/librazorstream_kernels.so" "$tmp"/*.o -lm
echo "[razorstream native] built $out/librazorstream_kernels.so"
