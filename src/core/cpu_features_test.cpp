// CPU probing vs the kernel's own view (/proc/cpuinfo flags on Linux x86),
// which is an independent source for every feature we report.
#include "core/cpu_features.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace ef {
namespace {

// The words of the first /proc/cpuinfo line starting with `key` ("flags" on
// x86, "Features" on ARM); empty if there is none.
[[maybe_unused]] std::set<std::string> proc_cpuinfo_flags(const char* key = "flags") {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::set<std::string> flags;
      std::istringstream words(line.substr(line.find(':') + 1));
      std::string w;
      while (words >> w) flags.insert(w);
      return flags;
    }
  }
  return {};
}

TEST(CpuFeatures, SummaryListsExactlyTheDetectedFeatures) {
  const CpuFeatures& f = cpu_features();
  std::set<std::string> words;
  std::istringstream in(f.summary());
  std::string w;
  while (in >> w) words.insert(w);
  EXPECT_FALSE(words.empty());
  EXPECT_EQ(words.count("avx2") == 1, f.avx2);
  EXPECT_EQ(words.count("avx512f") == 1, f.avx512f);
  EXPECT_EQ(words.count("avx512_vnni") == 1, f.avx512_vnni);
  EXPECT_EQ(words.count("amx(usable)") == 1, f.amx_usable);
  EXPECT_EQ(f.summary().find('\n'), std::string::npos);
}

TEST(CpuFeatures, AgreesWithProcCpuinfo) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
  const auto flags = proc_cpuinfo_flags();
  ASSERT_FALSE(flags.empty()) << "cannot read /proc/cpuinfo flags";
  const CpuFeatures f = probe_cpu_features();
  auto has = [&](const char* name) { return flags.count(name) > 0; };
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
  EXPECT_EQ(f.avx512bw, has("avx512bw"));
  EXPECT_EQ(f.avx512vl, has("avx512vl"));
  EXPECT_EQ(f.avx512dq, has("avx512dq"));
  EXPECT_EQ(f.avx512_vnni, has("avx512_vnni"));
  EXPECT_EQ(f.avx512_bf16, has("avx512_bf16"));
  EXPECT_EQ(f.avx512_fp16, has("avx512_fp16"));
  EXPECT_EQ(f.amx_tile, has("amx_tile"));
  EXPECT_EQ(f.amx_int8, has("amx_int8"));
  EXPECT_EQ(f.amx_bf16, has("amx_bf16"));
  EXPECT_FALSE(f.neon);
  if (!f.amx_tile) {
    EXPECT_FALSE(f.amx_usable);
  }
#elif defined(__aarch64__)
  const CpuFeatures f = probe_cpu_features();
  EXPECT_TRUE(f.neon);
  EXPECT_FALSE(f.avx2);
  // Under qemu-user /proc/cpuinfo describes the host, so the runner that
  // picks the emulated CPU says what it has (cmake/kernels_only.cmake);
  // on ARM hardware the kernel's "Features" line does.
  if (const char* expect = std::getenv("EF_EXPECT_DOTPROD"); expect != nullptr) {
    EXPECT_EQ(f.dotprod, std::string(expect) == "1") << "EF_EXPECT_DOTPROD=" << expect;
  } else if (const auto features = proc_cpuinfo_flags("Features"); !features.empty()) {
    EXPECT_EQ(f.dotprod, features.count("asimddp") > 0);
  } else {
    GTEST_SKIP() << "no independent source for dotprod (set EF_EXPECT_DOTPROD)";
  }
#else
  GTEST_SKIP() << "no independent feature source on this platform";
#endif
}

}  // namespace
}  // namespace ef
