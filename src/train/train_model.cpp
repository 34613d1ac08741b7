// TrainModel: memory layout, forward and backward passes (see train_model.h).
// The deepseek2 attention block lives in train_mla.cpp.
#include "train/train_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "train/ops.h"
#include "train/train_model_impl.h"

namespace ef::train {

bool is_mla(const ModelConfig& c) { return c.architecture == "deepseek2"; }

AttnDims attn_dims(const ModelConfig& c) {
  if (is_mla(c)) {
    return {c.n_head * c.head_dim, c.n_head * c.head_dim, c.n_head * c.head_dim_v,
            c.n_head * c.head_dim_v};
  }
  return {c.n_head * c.head_dim, c.n_head_kv * c.head_dim, c.n_head_kv * c.head_dim,
          c.n_head * c.head_dim};
}

int64_t params_per_layer(const ModelConfig& c) {
  if (!is_mla(c)) return 9;
  return c.q_lora_rank > 0 ? 13 : 11;
}

std::vector<ParamInfo> param_layout(const ModelConfig& c) {
  std::vector<ParamInfo> out;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> ne, bool is_norm) {
    int64_t count = 1;
    for (int64_t d : ne) count *= d;
    out.push_back(ParamInfo{std::move(name), std::move(ne), offset, count, is_norm});
    offset += count;
  };
  const int64_t C = c.n_embd, F = c.n_ff;
  const AttnDims d = attn_dims(c);
  add("token_embd.weight", {C, c.n_vocab}, false);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {C}, true);
    if (is_mla(c)) {
      // deepseek2 (llama.cpp's MLA layout; see src/model/deepseek2_weights.h)
      const int64_t r = c.kv_lora_rank, nope = c.head_dim - c.n_rot, NH = c.n_head;
      if (c.q_lora_rank > 0) {
        add(p + "attn_q_a.weight", {C, c.q_lora_rank}, false);
        add(p + "attn_q_a_norm.weight", {c.q_lora_rank}, true);
        add(p + "attn_q_b.weight", {c.q_lora_rank, d.q}, false);
      } else {
        add(p + "attn_q.weight", {C, d.q}, false);
      }
      add(p + "attn_kv_a_mqa.weight", {C, r + c.n_rot}, false);
      add(p + "attn_kv_a_norm.weight", {r}, true);
      add(p + "attn_k_b.weight", {nope, r, NH}, false);
      add(p + "attn_v_b.weight", {r, c.head_dim_v, NH}, false);
    } else {
      add(p + "attn_q.weight", {C, d.q}, false);
      add(p + "attn_k.weight", {C, d.k}, false);
      add(p + "attn_v.weight", {C, d.v}, false);
    }
    add(p + "attn_output.weight", {d.y, C}, false);
    add(p + "ffn_norm.weight", {C}, true);
    add(p + "ffn_gate.weight", {C, F}, false);
    add(p + "ffn_up.weight", {C, F}, false);
    add(p + "ffn_down.weight", {F, C}, false);
  }
  add("output_norm.weight", {C}, true);
  if (!c.tied_output) add("output.weight", {C, c.n_vocab}, false);
  return out;
}

namespace {

using u128 = unsigned __int128;

// Float counts of the per-layer and global activation arrays (see the
// activation policy in train_model.h). Sizes in 128-bit so absurd configs
// are rejected instead of wrapping.
struct Sizes {
  u128 layer_acts, final_acts, grad_work, att_scratch, rope, tokens;
};

Sizes sizes_for(const ModelConfig& c, int64_t B, int64_t T, int n_threads) {
  const u128 N = static_cast<u128>(B) * static_cast<u128>(T);
  const u128 C = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const AttnDims d = attn_dims(c);
  const u128 QD = static_cast<u128>(d.q), KD = static_cast<u128>(d.k);
  const u128 VD = static_cast<u128>(d.v), YD = static_cast<u128>(d.y);
  Sizes s{};
  // res_in, xn1, rstd1, q, k, v, att, y, res_mid, xn2, rstd2, gate, up, h
  s.layer_acts = N * (C + C + 1 + QD + KD + VD + YD + C + C + 1 + 3 * F) +
                 static_cast<u128>(B) * c.n_head * T * T;
  // res_out, xf, rstdf, logits, losses
  s.final_acts = N * (C + C + 1 + V + 1);
  // dres, dxn, dq, dk, dv, dy, dgate, dup, dh
  s.grad_work = N * (C + C + QD + KD + VD + YD + 3 * F);
  if (is_mla(c)) {
    const u128 r = static_cast<u128>(c.kv_lora_rank), rope = static_cast<u128>(c.n_rot);
    const u128 ql = static_cast<u128>(c.q_lora_rank);
    const u128 nope = static_cast<u128>(c.head_dim - c.n_rot), NH = static_cast<u128>(c.n_head);
    // qa, rstd_qa, qan (q_lora only); lat, rstd_kv, cn, kpe
    s.layer_acts += N * (ql > 0 ? 2 * ql + 1 : 0) + N * (r + 1 + r + rope);
    // dqan, dqa, kva, dlat, dkpe, dcn, knope; wkb_t, dwkb_t
    s.grad_work += N * (2 * ql + (r + rope) + r + rope + r + NH * nope) + 2 * NH * nope * r;
  }
  const u128 hd_max = static_cast<u128>(std::max(c.head_dim, is_mla(c) ? c.head_dim_v : 0));
  s.att_scratch = (2 * static_cast<u128>(T) * T + 3 * hd_max * T) * static_cast<u128>(n_threads);
  s.rope = static_cast<u128>(T) * static_cast<u128>(c.n_rot);  // cos + sin halves
  s.tokens = 2 * N;                                             // ids + targets (int32)
  return s;
}

constexpr u128 kMaxBytes = u128{1} << 46;  // 64 TiB: beyond any device

}  // namespace
Result<MemoryPlan> plan_memory(const ModelConfig& c, int64_t B, int64_t T, int n_threads) {
  EF_TRY(c.validate());
  if (B <= 0 || B > 65536) {
    return make_error(Errc::out_of_range, "batch size " + std::to_string(B) + " is outside [1, 65536]",
                      "batch");
  }
  if (T <= 1 || T > c.n_ctx_train) {
    return make_error(Errc::out_of_range,
                      "sequence length " + std::to_string(T) + " is outside [2, context_length = " +
                          std::to_string(c.n_ctx_train) + "]",
                      "seq", "use a shorter sequence or a larger context_length");
  }
  if (c.n_swa < 0 || c.swa_pattern < 0) {
    return make_error(Errc::out_of_range,
                      "sliding window " + std::to_string(c.n_swa) + " / pattern " +
                          std::to_string(c.swa_pattern) + " must be >= 0",
                      "sliding_window");
  }
  const Sizes s = sizes_for(c, B, T, n_threads < 1 ? 1 : n_threads);
  u128 n_params = 0;
  for (const ParamInfo& p : param_layout(c)) n_params += static_cast<u128>(p.count);
  const u128 acts = s.layer_acts * static_cast<u128>(c.n_layer) + s.final_acts;
  const u128 scratch = s.grad_work + s.att_scratch + s.rope + s.tokens;
  const u128 total = 4 * (n_params * 4 + acts + scratch);
  if (total > kMaxBytes) {
    return make_error(Errc::out_of_memory, "training this configuration needs more than 64 TiB",
                      "model shape / batch / seq", "use a smaller model, batch or sequence");
  }
  MemoryPlan plan;
  plan.params_bytes = static_cast<uint64_t>(4 * n_params);
  plan.grads_bytes = plan.params_bytes;
  plan.optimizer_bytes = 2 * plan.params_bytes;
  plan.activation_bytes = static_cast<uint64_t>(4 * acts);
  plan.scratch_bytes = static_cast<uint64_t>(4 * scratch);
  return plan;
}

TrainModel::~TrainModel() = default;
int TrainModel::n_threads() const { return impl_->pool->n_threads(); }
const float* TrainModel::logits() const { return impl_->logits; }
ThreadPool& TrainModel::pool() { return *impl_->pool; }
const float* TrainModel::token_losses() const { return impl_->losses; }

const float* TrainModel::param(const std::string& name) const {
  for (const ParamInfo& p : layout_) {
    if (p.name == name) return params() + p.offset;
  }
  return nullptr;
}

Result<std::unique_ptr<TrainModel>> TrainModel::create(const ModelConfig& c, int64_t B,
                                                       int64_t T, int n_threads) {
  if (n_threads < 1) n_threads = 1;
  EF_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(c, B, T, n_threads));
  (void)plan;
  std::unique_ptr<TrainModel> m(new TrainModel());
  m->c_ = c;
  m->B_ = B;
  m->T_ = T;
  m->layout_ = param_layout(c);
  for (const ParamInfo& p : m->layout_) m->n_params_ += p.count;
  const size_t pbytes = static_cast<size_t>(m->n_params_) * sizeof(float);
  EF_ASSIGN_OR_RETURN(m->params_, Buffer::allocate(pbytes));
  EF_ASSIGN_OR_RETURN(m->grads_, Buffer::allocate(pbytes));

  auto impl = std::make_unique<Impl>();
  const Sizes s = sizes_for(c, B, T, n_threads);
  const size_t n_acts = static_cast<size_t>(s.layer_acts * static_cast<u128>(c.n_layer) + s.final_acts);
  const size_t n_work = static_cast<size_t>(s.grad_work + s.att_scratch + s.rope + s.tokens);
  EF_ASSIGN_OR_RETURN(impl->acts_buf, Buffer::allocate(n_acts * sizeof(float)));
  EF_ASSIGN_OR_RETURN(impl->work_buf, Buffer::allocate(n_work * sizeof(float)));

  const int64_t N = B * T, C = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const AttnDims d = attn_dims(c);
  const bool mla = is_mla(c);
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, ql = c.q_lora_rank;
  const int64_t nope = c.head_dim - c.n_rot;
  float* a = impl->acts_buf.as<float>();
  auto take = [&](int64_t count) {
    float* p = a;
    a += count;
    return p;
  };
  impl->layers.resize(static_cast<size_t>(c.n_layer));
  for (LayerActs& L : impl->layers) {
    L.res_in = take(N * C);
    L.xn1 = take(N * C);
    L.rstd1 = take(N);
    L.q = take(N * d.q);
    L.k = take(N * d.k);
    L.v = take(N * d.v);
    L.att = take(B * c.n_head * T * T);
    L.y = take(N * d.y);
    L.res_mid = take(N * C);
    L.xn2 = take(N * C);
    L.rstd2 = take(N);
    L.gate = take(N * F);
    L.up = take(N * F);
    L.h = take(N * F);
    if (mla) {
      if (ql > 0) {
        L.qa = take(N * ql);
        L.rstd_qa = take(N);
        L.qan = take(N * ql);
      }
      L.lat = take(N * r);
      L.rstd_kv = take(N);
      L.cn = take(N * r);
      L.kpe = take(N * rope);
    }
  }
  impl->res_out = take(N * C);
  impl->xf = take(N * C);
  impl->rstdf = take(N);
  impl->logits = take(N * V);
  impl->losses = take(N);

  a = impl->work_buf.as<float>();
  impl->dres = take(N * C);
  impl->dxn = take(N * C);
  impl->dq = take(N * d.q);
  impl->dk = take(N * d.k);
  impl->dv = take(N * d.v);
  impl->dy = take(N * d.y);
  impl->dgate = take(N * F);
  impl->dup = take(N * F);
  impl->dh = take(N * F);
  if (mla) {
    impl->dqan = take(N * ql);
    impl->dqa = take(N * ql);
    impl->kva = take(N * (r + rope));
    impl->dlat = take(N * r);
    impl->dkpe = take(N * rope);
    impl->dcn = take(N * r);
    impl->knope = take(N * c.n_head * nope);
    impl->wkb_t = take(c.n_head * nope * r);
    impl->dwkb_t = take(c.n_head * nope * r);
  }
  impl->att_scratch = take(static_cast<int64_t>(s.att_scratch));
  impl->rope_cos = take(T * c.n_rot / 2);
  impl->rope_sin = take(T * c.n_rot / 2);
  impl->ids = reinterpret_cast<int32_t*>(take(N));
  impl->targets = reinterpret_cast<int32_t*>(take(N));
  rope_table(impl->rope_cos, impl->rope_sin, T, c.n_rot, c.rope_freq_base);
  impl->pool = std::make_unique<ThreadPool>(n_threads);
  m->impl_ = std::move(impl);
  return m;
}

void TrainModel::llama_attention_forward(int64_t l, size_t first) {
  Impl& I = *impl_;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  LayerActs& L = I.layers[static_cast<size_t>(l)];
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd;
  const int64_t NH = c.n_head, NKV = c.n_head_kv, hd = c.head_dim;
  const float* w = params();
  // y = attn(rope(Wq xn1), rope(Wk xn1), Wv xn1)
  matmul_forward(L.q, L.xn1, w + layout_[first + 1].offset, N, C, NH * hd, pool);   // [N, QD]
  matmul_forward(L.k, L.xn1, w + layout_[first + 2].offset, N, C, NKV * hd, pool);  // [N, KD]
  matmul_forward(L.v, L.xn1, w + layout_[first + 3].offset, N, C, NKV * hd, pool);  // [N, KD]
  rope_forward(L.q, I.rope_cos, I.rope_sin, N, T, NH, hd, c.n_rot);
  rope_forward(L.k, I.rope_cos, I.rope_sin, N, T, NKV, hd, c.n_rot);
  const int64_t window = c.is_swa(l) ? c.n_swa : 0;  // 0: full causal
  attention_forward(L.y, L.att, I.att_scratch, L.q, L.k, L.v, B, T, NH, NKV, hd, pool,
                    window);  // [N, QD]
}

void TrainModel::llama_attention_backward(int64_t l, size_t first) {
  Impl& I = *impl_;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  LayerActs& L = I.layers[static_cast<size_t>(l)];
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd;
  const int64_t NH = c.n_head, NKV = c.n_head_kv, hd = c.head_dim;
  const int64_t QD = NH * hd, KD = NKV * hd;
  auto zero = [](float* p, int64_t n) { std::memset(p, 0, static_cast<size_t>(n) * sizeof(float)); };
  float* g = grads();
  const float* w = params();
  auto off = [&](size_t k) { return layout_[first + k].offset; };
  // dy -> dq, dk, dv -> dxn
  zero(I.dq, N * QD);
  zero(I.dk, N * KD);
  zero(I.dv, N * KD);
  attention_backward(I.dq, I.dk, I.dv, I.att_scratch, I.dy, L.q, L.k, L.v, L.att, B, T, NH, NKV,
                     hd, pool, c.is_swa(l) ? c.n_swa : 0);
  rope_backward(I.dq, I.rope_cos, I.rope_sin, N, T, NH, hd, c.n_rot);
  rope_backward(I.dk, I.rope_cos, I.rope_sin, N, T, NKV, hd, c.n_rot);
  zero(I.dxn, N * C);
  matmul_backward(I.dxn, g + off(1), I.dq, L.xn1, w + off(1), N, C, QD, pool);
  matmul_backward(I.dxn, g + off(2), I.dk, L.xn1, w + off(2), N, C, KD, pool);
  matmul_backward(I.dxn, g + off(3), I.dv, L.xn1, w + off(3), N, C, KD, pool);
}

float TrainModel::forward(const int32_t* ids, const int32_t* targets) {
  Impl& I = *impl_;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const int64_t YD = attn_dims(c).y;
  const size_t P = static_cast<size_t>(params_per_layer(c));
  std::memcpy(I.ids, ids, static_cast<size_t>(N) * sizeof(int32_t));
  I.has_targets = targets != nullptr;
  if (targets != nullptr) std::memcpy(I.targets, targets, static_cast<size_t>(N) * sizeof(int32_t));

  const float* wte = params();
  float* x = I.layers.empty() ? I.res_out : I.layers[0].res_in;
  embedding_forward(x, I.ids, wte, N, C);  // [N, C]
  size_t pi = 1;  // index into layout_: first tensor of the layer
  for (int64_t l = 0; l < c.n_layer; ++l, pi += P) {
    LayerActs& L = I.layers[static_cast<size_t>(l)];
    const float* w_attn_norm = params() + layout_[pi].offset;
    const float* wo = params() + layout_[pi + P - 5].offset;
    const float* w_ffn_norm = params() + layout_[pi + P - 4].offset;
    const float* wg = params() + layout_[pi + P - 3].offset;
    const float* wu = params() + layout_[pi + P - 2].offset;
    const float* wd = params() + layout_[pi + P - 1].offset;
    float* res_out = l + 1 < c.n_layer ? I.layers[static_cast<size_t>(l + 1)].res_in : I.res_out;

    // Attention block: res_mid = res_in + Wo . attention(xn1)
    rmsnorm_forward(L.xn1, L.rstd1, L.res_in, w_attn_norm, N, C, c.rms_eps, pool);
    if (is_mla(c)) {
      mla_forward(l, pi);  // -> L.y [N, NH*hv]
    } else {
      llama_attention_forward(l, pi);  // -> L.y [N, NH*hd]
    }
    matmul_forward(L.res_mid, L.y, wo, N, YD, C, pool);
    for (int64_t i = 0; i < N * C; ++i) L.res_mid[i] += L.res_in[i];

    // MLP block: res_out = res_mid + Wd . (silu(Wg xn2) * (Wu xn2))
    rmsnorm_forward(L.xn2, L.rstd2, L.res_mid, w_ffn_norm, N, C, c.rms_eps, pool);
    matmul_forward(L.gate, L.xn2, wg, N, C, F, pool);  // [N, F]
    matmul_forward(L.up, L.xn2, wu, N, C, F, pool);    // [N, F]
    swiglu_forward(L.h, L.gate, L.up, N * F, pool);
    matmul_forward(res_out, L.h, wd, N, F, C, pool);
    for (int64_t i = 0; i < N * C; ++i) res_out[i] += L.res_mid[i];
  }
  const float* w_out_norm = params() + layout_[pi].offset;
  const float* w_out = c.tied_output ? wte : params() + layout_[pi + 1].offset;
  rmsnorm_forward(I.xf, I.rstdf, I.res_out, w_out_norm, N, C, c.rms_eps, pool);
  matmul_forward(I.logits, I.xf, w_out, N, C, V, pool);  // [N, V]
  if (targets == nullptr) return 0.0f;
  crossentropy_forward(I.losses, I.logits, I.logits, I.targets, N, V, pool);  // logits -> probs
  double sum = 0.0;
  for (int64_t i = 0; i < N; ++i) sum += I.losses[i];
  return static_cast<float>(sum / static_cast<double>(N));
}

void TrainModel::zero_grad() { std::memset(grads_.data(), 0, grads_.size_bytes()); }

void TrainModel::backward(float loss_scale) {
  Impl& I = *impl_;
  if (!I.has_targets) return;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const int64_t YD = attn_dims(c).y;
  const size_t P = static_cast<size_t>(params_per_layer(c));
  auto zero = [](float* p, int64_t n) { std::memset(p, 0, static_cast<size_t>(n) * sizeof(float)); };
  float* g = grads();
  const float* w = params();
  size_t pi = 1 + P * static_cast<size_t>(c.n_layer);  // output_norm

  // Head: loss -> logits -> xf -> res_out.
  crossentropy_backward(I.logits, loss_scale / static_cast<float>(N), I.logits, I.targets, N, V,
                        pool);  // probs -> dlogits, in place
  const ParamInfo& out_norm = layout_[pi];
  const int64_t out_off = c.tied_output ? layout_[0].offset : layout_[pi + 1].offset;
  zero(I.dxn, N * C);
  matmul_backward(I.dxn, g + out_off, I.logits, I.xf, w + out_off, N, C, V, pool);
  zero(I.dres, N * C);
  rmsnorm_backward(I.dres, g + out_norm.offset, I.dxn, I.res_out, w + out_norm.offset, I.rstdf, N,
                   C, pool);

  for (int64_t l = c.n_layer - 1; l >= 0; --l) {
    LayerActs& L = I.layers[static_cast<size_t>(l)];
    const size_t b = 1 + P * static_cast<size_t>(l);
    auto off = [&](size_t k) { return layout_[b + k].offset; };  // k counts from attn_norm
    // MLP block; dres holds d(res_out) and receives d(res_mid).
    zero(I.dh, N * F);
    matmul_backward(I.dh, g + off(P - 1), I.dres, L.h, w + off(P - 1), N, F, C, pool);
    zero(I.dgate, N * F);
    zero(I.dup, N * F);
    swiglu_backward(I.dgate, I.dup, I.dh, L.gate, L.up, N * F, pool);
    zero(I.dxn, N * C);
    matmul_backward(I.dxn, g + off(P - 3), I.dgate, L.xn2, w + off(P - 3), N, C, F, pool);
    matmul_backward(I.dxn, g + off(P - 2), I.dup, L.xn2, w + off(P - 2), N, C, F, pool);
    rmsnorm_backward(I.dres, g + off(P - 4), I.dxn, L.res_mid, w + off(P - 4), L.rstd2, N, C, pool);

    // Attention block; dres becomes d(res_in).
    zero(I.dy, N * YD);
    matmul_backward(I.dy, g + off(P - 5), I.dres, L.y, w + off(P - 5), N, YD, C, pool);
    if (is_mla(c)) {
      mla_backward(l, b);  // dy -> dxn (zeroed inside)
    } else {
      llama_attention_backward(l, b);
    }
    rmsnorm_backward(I.dres, g + off(0), I.dxn, L.res_in, w + off(0), L.rstd1, N, C, pool);
  }
  embedding_backward(g + layout_[0].offset, I.dres, I.ids, N, C);
  I.has_targets = false;  // the probabilities were consumed
}

}  // namespace ef::train
