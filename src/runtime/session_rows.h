// Position-granular access to a session's KV rows, wherever they live
// (resident cache, or the disk offload file): used by session files.
#pragma once

#include <cstdint>

#include "edgeformer/error.h"

namespace ef {
struct SessionState;

// K and V rows of (layer il, position pos < n_past): s.kv().k_row_bytes() and
// v_row_bytes() (no V row for the MLA latent cache).
Status session_get_rows(const SessionState& s, int64_t il, int64_t pos, void* k, void* v);
Status session_put_rows(SessionState& s, int64_t il, int64_t pos, const void* k, const void* v);
// Empties the session: n_past 0, no tokens, no logits, cache zeroed.
void session_clear(SessionState& s);

}  // namespace ef
