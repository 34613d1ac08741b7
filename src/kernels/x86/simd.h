// <immintrin.h> for the x86 kernel files. GCC 12 reports the AVX-512
// intrinsics' own _mm512_undefined_*() starting values as uninitialized
// (-Wuninitialized / -Wmaybe-uninitialized, errors under -Werror); the
// pragmas silence that for the rest of the including file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
