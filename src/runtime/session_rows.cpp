// Row access to a session's KV state (see session_rows.h).
#include "runtime/session_rows.h"

#include "runtime/session_state.h"

namespace ef {

Status session_get_rows(const SessionState& s, int64_t il, int64_t pos, void* k, void* v) {
  if (s.offload) return s.offload->get_rows(s.kv(), il, pos, k, v);
  s.kv().get_rows(il, pos, k, v);
  return Status::success();
}

Status session_put_rows(SessionState& s, int64_t il, int64_t pos, const void* k, const void* v) {
  if (s.offload) return s.offload->put_rows(s.kv(), il, pos, k, v);
  s.kv().put_rows(il, pos, k, v);
  return Status::success();
}

void session_clear(SessionState& s) {
  s.n_past = 0;
  s.tokens.clear();
  s.last_logits_row = -1;
  s.kv().clear();
  if (s.offload) s.offload->reset();
}

}  // namespace ef
