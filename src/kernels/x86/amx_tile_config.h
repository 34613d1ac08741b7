// AMX tile configuration (palette 1), shared by the AMX kernel files.
// Callers fill rows/colsb per tile and call load_tile_config right before
// their run of tile instructions (never cached across calls: a library call
// in between, e.g. the dynamic linker's lazy-binding trampoline, saves and
// restores only the vector state and can leave the tiles unconfigured).
// Include only from files compiled with AMX flags (x86/*amx*).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ef::kernels::x86::amx {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};    // rows of each tile
};

inline void load_tile_config(TileConfig& c) {
  // GCC 12's _tile_loadconfig tells the compiler it reads only 8 bytes of
  // the config, so the row/column stores would be dropped as dead: force them.
  __asm__ volatile("" : : "r"(&c) : "memory");
  _tile_loadconfig(&c);
}

}  // namespace ef::kernels::x86::amx
