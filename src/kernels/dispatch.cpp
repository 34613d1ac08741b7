// Kernel table registry and selection.
//
// Adding an ISA: write its files (x86/<isa>_*.cpp or arm/...), a fill
// function, and one line in kIsas below (best last).
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#if defined(EF_HAVE_X86)
#include "kernels/x86/x86_tables.h"
#endif
#if defined(EF_HAVE_ARM)
#include "kernels/arm/arm_tables.h"
#endif

namespace ef::kernels {
namespace {

struct IsaEntry {
  Isa isa;
  bool (*supported)(const CpuFeatures& f);
  void (*fill)(KernelTable& table);
};

constexpr IsaEntry kIsas[] = {
    {Isa::scalar, [](const CpuFeatures&) { return true; }, ref::fill_scalar_table},
#if defined(EF_HAVE_X86)
    {Isa::avx2, [](const CpuFeatures& f) { return f.avx2 && f.fma && f.f16c; },
     x86::fill_avx2_table},
    // The avx512 files are compiled with VNNI and BF16 enabled, so the CPU
    // must have all of them (Cooper Lake, Sapphire Rapids, Zen 4 and later).
    {Isa::avx512,
     [](const CpuFeatures& f) {
       return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl &&
              f.avx512dq && f.avx512_vnni && f.avx512_bf16;
     },
     x86::fill_avx512_table},
    // AMX needs the AVX-512 set (its table builds on it), the int8 tiles and
    // the kernel's permission to use tile data (requested at probe time).
    {Isa::amx,
     [](const CpuFeatures& f) {
       return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl &&
              f.avx512dq && f.avx512_vnni && f.avx512_bf16 && f.amx_usable && f.amx_int8;
     },
     x86::fill_amx_table},
#endif
#if defined(EF_HAVE_ARM)
    {Isa::neon, [](const CpuFeatures& f) { return f.neon; }, arm::fill_neon_table},
    // SDOT: probed from the kernel's HWCAP_ASIMDDP, never assumed from the
    // compile flags of the dotprod file.
    {Isa::neon_dotprod, [](const CpuFeatures& f) { return f.neon && f.dotprod; },
     arm::fill_neon_dotprod_table},
#endif
};
constexpr size_t kNumIsas = sizeof(kIsas) / sizeof(kIsas[0]);

// Tables are built once, on first request, and never change afterwards.
struct Registry {
  KernelTable tables[kNumIsas];
  std::once_flag built[kNumIsas];
};
Registry& registry() {
  static Registry r;
  return r;
}

const IsaEntry* find_entry(Isa isa) {
  for (const auto& e : kIsas) {
    if (e.isa == isa) return &e;
  }
  return nullptr;
}

const KernelTable& build(size_t i) {
  Registry& r = registry();
  std::call_once(r.built[i], [&] { kIsas[i].fill(r.tables[i]); });
  return r.tables[i];
}

std::atomic<const KernelTable*> g_active{nullptr};
std::once_flag g_active_once;
std::mutex g_warning_mutex;
std::string g_warning;

void init_active() {
  std::string warning;
  const Isa chosen = resolve_isa_request(std::getenv("EDGEFORMER_ISA"), &warning);
  if (!warning.empty()) {
    std::lock_guard<std::mutex> lock(g_warning_mutex);
    g_warning = warning;
  }
  auto table = table_for(chosen);
  g_active.store(table.ok() ? *table : &build(0), std::memory_order_release);
}

constexpr Isa kAllIsas[] = {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni,
                            Isa::amx,    Isa::neon, Isa::neon_dotprod};

std::string all_isa_names() {
  std::string s;
  for (Isa isa : kAllIsas) s += std::string(s.empty() ? "" : ", ") + isa_name(isa);
  return s;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512_vnni: return "avx512_vnni";
    case Isa::amx: return "amx";
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon_dotprod";
  }
  return "unknown";
}

Result<Isa> parse_isa(const std::string& name) {
  for (Isa isa : kAllIsas) {
    if (name == isa_name(isa)) return isa;
  }
  return make_error(Errc::invalid_argument, "unknown ISA '" + name + "'", "EDGEFORMER_ISA / --isa",
                    "use one of: " + all_isa_names());
}

Isa resolve_isa_request(const char* value, std::string* warning) {
  const Isa best = best_isa();
  if (value == nullptr || *value == '\0') return best;
  auto parsed = parse_isa(value);
  std::string problem;
  if (!parsed.ok()) {
    problem = parsed.error().message();
  } else if (!isa_supported(*parsed)) {
    problem = std::string("ISA '") + value + "' is not supported by this CPU/build (" +
              cpu_features().summary() + ")";
  } else {
    return *parsed;
  }
  if (warning != nullptr) *warning = "EDGEFORMER_ISA ignored: " + problem + "; using " + isa_name(best);
  return best;
}

bool isa_supported(Isa isa) {
  const IsaEntry* e = find_entry(isa);
  return e != nullptr && e->supported(cpu_features());
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (const auto& e : kIsas) {
    if (e.supported(cpu_features())) out.push_back(e.isa);
  }
  return out;
}

Isa best_isa() { return available_isas().back(); }

Result<const KernelTable*> table_for(Isa isa) {
  for (size_t i = 0; i < kNumIsas; ++i) {
    if (kIsas[i].isa != isa) continue;
    if (!kIsas[i].supported(cpu_features())) break;
    return &build(i);
  }
  return make_error(Errc::unsupported, std::string("ISA '") + isa_name(isa) + "' is not available",
                    "this CPU: " + cpu_features().summary(),
                    "pick one of the available ISAs (scalar always works)");
}

const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t != nullptr) return *t;
  std::call_once(g_active_once, init_active);
  return *g_active.load(std::memory_order_acquire);
}

std::string active_isa_warning() {
  (void)active();
  std::lock_guard<std::mutex> lock(g_warning_mutex);
  return g_warning;
}

Status select_isa(Isa isa) {
  (void)active();  // run the env-based initialisation first so it cannot override us
  EF_ASSIGN_OR_RETURN(const KernelTable* table, table_for(isa));
  g_active.store(table, std::memory_order_release);
  return Status::success();
}

const TypeKernels& KernelTable::for_type(DType type) const {
  switch (type) {
    case DType::F32: return f32;
    case DType::F16: return f16;
    case DType::BF16: return bf16;
    case DType::Q8_0: return q8_0;
    case DType::Q4_0: return q4_0;
  }
  return f32;
}

}  // namespace ef::kernels
