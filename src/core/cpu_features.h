// CPU feature probing. Features are detected by asking the CPU (CPUID) and
// the OS (XGETBV: is the register state saved on context switch?), never by
// trusting compile flags: a binary built with AVX-512 files must still run on
// a CPU without them. AMX additionally needs per-process permission from
// Linux (arch_prctl ARCH_REQ_XCOMP_PERM), so `amx_usable` is only true when
// that request succeeded.
#pragma once

#include <string>

namespace ef {

struct CpuFeatures {
  // x86 (all false elsewhere). Each AVX flag already includes the OS check.
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;
  bool amx_tile = false;  // CPU + OS state enabled
  bool amx_int8 = false;
  bool amx_bf16 = false;
  bool amx_usable = false;  // amx_tile and the kernel granted tile-data permission
  // aarch64
  bool neon = false;
  bool dotprod = false;

  // One line, e.g. "avx2 fma f16c avx512f avx512bw ... amx-tile amx-int8 amx(usable)".
  std::string summary() const;
};

// Probes once (first call; thread-safe) and returns the cached result.
const CpuFeatures& cpu_features();
// Probes again, uncached (tests).
CpuFeatures probe_cpu_features();

}  // namespace ef
