// Checks TrainModel and AdamW against PyTorch (float64) on the fixtures that
// scripts/torch_reference.py wrote to tests/fixtures/train/: logits, loss,
// the gradient of every weight, and 10 AdamW steps (losses and final
// weights). Errors are measured per tensor as
//   max_i |ours_i - ref_i| / max_i |ref_i|
// (elementwise relative error is meaningless for entries near zero).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "train/optimizer.h"
#include "train/train_model.h"

namespace ef::train {
namespace {

struct Array {
  uint32_t dtype = 0;  // 0 f32, 1 i32
  std::vector<int64_t> dims;
  std::vector<float> f;
  std::vector<int32_t> i;
};

std::map<std::string, Array> load_fixture(const std::string& path) {
  std::map<std::string, Array> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  auto u32 = [&] {
    uint32_t v = 0;
    in.read(reinterpret_cast<char*>(&v), 4);
    return v;
  };
  char magic[4];
  in.read(magic, 4);
  if (std::memcmp(magic, "EFFX", 4) != 0 || u32() != 1) return {};
  const uint32_t count = u32();
  for (uint32_t a = 0; a < count && in; ++a) {
    std::string name(u32(), '\0');
    in.read(name.data(), static_cast<std::streamsize>(name.size()));
    Array arr;
    arr.dtype = u32();
    const uint32_t ndim = u32();
    int64_t n = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      int64_t dim = 0;
      in.read(reinterpret_cast<char*>(&dim), 8);
      arr.dims.push_back(dim);
      n *= dim;
    }
    if (arr.dtype == 0) {
      arr.f.resize(static_cast<size_t>(n));
      in.read(reinterpret_cast<char*>(arr.f.data()), n * 4);
    } else {
      arr.i.resize(static_cast<size_t>(n));
      in.read(reinterpret_cast<char*>(arr.i.data()), n * 4);
    }
    out[name] = std::move(arr);
  }
  if (!in) return {};
  return out;
}

std::string fixture_path(const char* name) {
  return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "tests" / "fixtures" /
          "train" / name)
      .string();
}

double rel_err(const float* ours, const std::vector<float>& ref, size_t* worst = nullptr) {
  double max_ref = 0.0, max_diff = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
    const double d = std::fabs(static_cast<double>(ours[i]) - ref[i]);
    if (d > max_diff && worst != nullptr) *worst = i;
    max_diff = std::max(max_diff, d);
  }
  return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

// Tolerances (F32 against a float64 reference).
constexpr double kLogitsTol = 5e-6;
constexpr double kGradTol = 5e-6;
constexpr double kAdamLossTol = 1e-5;
constexpr double kAdamWeightTol = 2e-5;

class TorchReference : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchReference, MatchesPytorch) {
  auto fx = load_fixture(fixture_path(GetParam()));
  ASSERT_FALSE(fx.empty()) << "cannot read fixture " << fixture_path(GetParam());
  const auto& cfg = fx.at("config").i;
  const auto& hp = fx.at("hparams").f;
  ModelConfig c;
  c.n_vocab = cfg[0];
  c.n_embd = cfg[1];
  c.n_layer = cfg[2];
  c.n_head = cfg[3];
  c.n_head_kv = cfg[4];
  c.n_ff = cfg[5];
  c.n_ctx_train = cfg[6];
  c.tied_output = cfg[8] != 0;
  c.head_dim = c.n_embd / c.n_head;
  c.n_rot = cfg[9];
  c.rms_eps = hp[0];
  c.rope_freq_base = hp[1];
  if (fx.count("mla") != 0) {  // deepseek2: {kv_lora_rank, q_lora_rank, nope, rope, v head}
    const auto& m = fx.at("mla").i;
    c.architecture = "deepseek2";
    c.kv_lora_rank = m[0];
    c.q_lora_rank = m[1];
    c.head_dim = m[2] + m[3];
    c.n_rot = m[3];
    c.head_dim_v = m[4];
    c.n_head_kv = c.n_head;
    c.n_layer_dense_lead = c.n_layer;
  }
  if (fx.count("swa") != 0) {  // sliding-window fixture: {window, pattern}
    c.n_swa = fx.at("swa").i[0];
    c.swa_pattern = fx.at("swa").i[1];
  }
  const int64_t T = cfg[6], B = cfg[7];
  auto model_or = TrainModel::create(c, B, T, 2);
  ASSERT_TRUE(model_or.ok()) << model_or.error().message();
  TrainModel& m = **model_or;
  for (const ParamInfo& p : m.layout()) {
    const Array& w = fx.at("w." + p.name);
    ASSERT_EQ(static_cast<int64_t>(w.f.size()), p.count) << p.name;
    std::memcpy(m.params() + p.offset, w.f.data(), w.f.size() * sizeof(float));
  }
  const std::vector<int32_t>& ids = fx.at("ids").i;
  const std::vector<int32_t>& targets = fx.at("targets").i;

  m.forward(ids.data(), nullptr);
  const double logits_err = rel_err(m.logits(), fx.at("logits").f);
  EXPECT_LT(logits_err, kLogitsTol);

  m.zero_grad();
  const float loss = m.forward(ids.data(), targets.data());
  const double ref_loss = fx.at("loss").f[0];
  EXPECT_LT(std::fabs(loss - ref_loss) / ref_loss, 1e-6) << loss << " vs " << ref_loss;
  m.backward(1.0f);
  double worst_grad = 0.0;
  for (const ParamInfo& p : m.layout()) {
    const double e = rel_err(m.grads() + p.offset, fx.at("g." + p.name).f);
    EXPECT_LT(e, kGradTol) << p.name;
    worst_grad = std::max(worst_grad, e);
  }
  std::printf("    %s: logits rel err %.2e, loss %.7f vs %.7f, worst gradient rel err %.2e\n",
              GetParam(), logits_err, loss, ref_loss, worst_grad);

  // 10 AdamW steps on the same batch, from the initial weights.
  for (const ParamInfo& p : m.layout()) {
    const Array& w = fx.at("w." + p.name);
    std::memcpy(m.params() + p.offset, w.f.data(), w.f.size() * sizeof(float));
  }
  AdamWConfig ac;
  ac.beta1 = hp[3];
  ac.beta2 = hp[4];
  ac.eps = hp[5];
  ac.weight_decay = hp[6];
  ac.clip = hp[7];
  auto opt = AdamW::create(m.n_params(), ac);
  ASSERT_TRUE(opt.ok());
  ThreadPool pool(2);
  const std::vector<float>& ref_losses = fx.at("adam_losses").f;
  const std::vector<float>& ref_norms = fx.at("adam_grad_norms").f;
  double worst_loss = 0.0, worst_norm = 0.0;
  for (size_t s = 0; s < ref_losses.size(); ++s) {
    m.zero_grad();
    const float l = m.forward(ids.data(), targets.data());
    m.backward(1.0f);
    const float norm = opt->step(m.params(), m.grads(), m.layout(), hp[2], pool);
    const double le = std::fabs(l - ref_losses[s]) / std::fabs(ref_losses[s]);
    const double ne = std::fabs(norm - ref_norms[s]) / std::fabs(ref_norms[s]);
    EXPECT_LT(le, kAdamLossTol) << "step " << s << ": " << l << " vs " << ref_losses[s];
    EXPECT_LT(ne, kAdamLossTol) << "step " << s << ": norm " << norm << " vs " << ref_norms[s];
    worst_loss = std::max(worst_loss, le);
    worst_norm = std::max(worst_norm, ne);
  }
  double worst_w = 0.0;
  for (const ParamInfo& p : m.layout()) {
    size_t at = 0;
    const double e = rel_err(m.params() + p.offset, fx.at("w10." + p.name).f, &at);
    EXPECT_LT(e, kAdamWeightTol) << p.name << " [" << at << "]: " << m.params()[p.offset + at]
                                 << " vs " << fx.at("w10." + p.name).f[at] << ", initial "
                                 << fx.at("w." + p.name).f[at] << ", step-0 gradient "
                                 << fx.at("g." + p.name).f[at];
    worst_w = std::max(worst_w, e);
  }
  std::printf("    %s: 10 AdamW steps: loss %.6f -> %.6f, worst loss rel err %.2e, grad norm %.2e, "
              "final weights %.2e\n",
              GetParam(), ref_losses.front(), ref_losses.back(), worst_loss, worst_norm, worst_w);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchReference,
                         ::testing::Values("gqa_untied.bin", "mqa_tied.bin", "swa_gqa.bin",
                                           "mla_plain_q.bin", "mla_q_lora.bin"));

}  // namespace
}  // namespace ef::train
