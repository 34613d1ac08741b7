#include "plan_table.h"

#include "cli_common.h"

namespace ef::cli {

std::string format_memory_plan(const MemoryPlan& p) {
  std::string out =
      "memory plan (ctx " + std::to_string(p.n_ctx) + ", ubatch " + std::to_string(p.n_ubatch) +
      ", threads " + std::to_string(p.n_threads) +
      (p.budget > 0 ? ", budget " + format_bytes(p.budget) : std::string(", no budget")) + "):\n";
  auto row = [&out](const char* name, uint64_t bytes, const std::string& note) {
    out += strprintf("  %-22s %12s  %s\n", name, format_bytes(bytes).c_str(), note.c_str());
  };
  row("weights (mapped file)", p.weights, "resident: every page is read per token");
  row("KV cache (resident)", p.kv_resident,
      p.offload ? std::to_string(p.kv_resident_positions) + " newest positions per global layer"
                : "all positions");
  if (p.offload) {
    row("KV offloaded (disk)", p.kv_offloaded, "unlinked temp file, page cache (not RSS)");
    row("KV staging", p.kv_staging, "one flash piece (1024 positions) read back at a time");
  }
  row("scratch", p.scratch, "activations, attention, matmul, logits");
  row("runtime (estimate)", p.runtime, "tokenizer, token ids, stacks");
  std::string verdict;
  if (p.budget > 0) verdict = p.total() <= p.budget ? "fits the budget" : "OVER the budget";
  if (p.flash_forced) verdict += "; flash attention forced on (KV offload needs it)";
  row("total", p.total(), verdict);
  return out;
}

}  // namespace ef::cli
