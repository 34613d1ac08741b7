// Model::load: map the GGUF file, read and validate the hyper-parameters,
// build the tokenizer, then bind and check every weight tensor. Weights stay
// in the mapping (or its huge-page copy), except matmul weights the active
// kernels read repacked (model/weight_pack.h).
#include "edgeformer/model.h"

#include <cctype>
#include <map>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "model/deepseek2_weights.h"
#include "model/llama_weights.h"
#include "model/weight_pack.h"

namespace ef {

Model::~Model() = default;

namespace {

// Whether Model::load will repack this llama file's matmul weights with
// `table` (judged by blk.0.ffn_gate, the largest kind of matrix).
bool will_pack(const gguf::File& file, const ModelConfig& config,
               const kernels::KernelTable& table) {
  if (!weight_packing_enabled() || config.architecture == "deepseek2") return false;
  const gguf::TensorInfo* t = file.find_tensor("blk.0.ffn_gate.weight");
  if (t == nullptr) return false;
  const kernels::TypeKernels& tk = table.for_type(t->type);
  return kernels::packable(t->type) && tk.repack != nullptr && tk.gemm_packed != nullptr;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  // The page-cache mapping first. Weights that will be repacked keep it (the
  // packed copy is on huge pages; the mapped originals are dropped after
  // packing); otherwise a large file is reopened as a huge-page copy.
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file,
                      gguf::File::open(path, /*allow_huge_copy=*/false));
  EF_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::from_gguf(*file));
  if (!will_pack(*file, config, kernels::active())) {
    EF_ASSIGN_OR_RETURN(file, gguf::File::open(path));
  }
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::from_gguf(*file));
  if (tokenizer->n_vocab() != config.n_vocab) {
    return make_error(Errc::format,
                      "the tokenizer has " + std::to_string(tokenizer->n_vocab()) +
                          " tokens but token_embd.weight has " + std::to_string(config.n_vocab) +
                          " rows",
                      path, "the vocabulary and the model do not belong together");
  }
  std::unique_ptr<Model> model(new Model());
  // One weight set per architecture (config.architecture is validated).
  if (config.architecture == "deepseek2") {
    EF_ASSIGN_OR_RETURN(Deepseek2Weights weights, Deepseek2Weights::bind(*file, config));
    model->deepseek2_ = std::make_unique<Deepseek2Weights>(std::move(weights));
  } else {
    EF_ASSIGN_OR_RETURN(LlamaWeights weights, LlamaWeights::bind(*file, config));
    // Weights in the kernels' packed layout when the active table reads it.
    // The GGUF copies of packed tensors are released only from a page-cache
    // mapping (they come back from the file if touched again, e.g. tied
    // token_embd lookups); an anonymous huge-page copy keeps them.
    if (weight_packing_enabled()) {
      EF_TRY(weights.pack(kernels::active(), file->page_cache_backed()));
      file->note_released(weights.pack_report.released_bytes);
    }
    model->weights_ = std::make_unique<LlamaWeights>(std::move(weights));
  }
  model->config_ = config;
  model->file_ = std::move(file);
  model->tokenizer_ = std::move(tokenizer);
  return model;
}

uint64_t Model::weight_bytes() const {
  uint64_t total = 0;
  for (const auto& t : file_->tensors()) total += t.size_bytes;
  return total;
}

uint64_t Model::n_params() const {
  uint64_t total = 0;
  for (const auto& t : file_->tensors()) {
    total += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
  }
  return total;
}

std::string Model::type_summary() const {
  // The type holding most elements among the matrices (norms are always F32).
  std::map<std::string, uint64_t> elements;
  for (const auto& t : file_->tensors()) {
    if (t.ne[1] <= 1) continue;
    elements[ggml_type_name(t.ggml_type)] +=
        static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
  }
  std::string best = "F32";
  uint64_t best_n = 0;
  for (const auto& [name, n] : elements) {
    if (n > best_n) {
      best = name;
      best_n = n;
    }
  }
  for (char& ch : best) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return best;
}

}  // namespace ef
