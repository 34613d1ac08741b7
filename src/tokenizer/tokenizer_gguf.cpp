// Tokenizer::from_gguf: reads tokenizer.ggml.* into a VocabSpec. All
// validation beyond value types lives in build_vocab (vocab.cpp).
#include <string>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/vocab.h"

namespace ef {
namespace {

// Re-labels a reader error as a metadata format error that names `key`.
Error key_error(const Error& e, std::string_view key) {
  return make_error(Errc::format, e.what, e.where.empty() ? std::string(key) : e.where,
                    e.hint.empty() ? "fix the tokenizer metadata (tokenizer.ggml.*)" : e.hint);
}

template <class T>
Result<T> keyed(Result<T> r, std::string_view key) {
  if (!r.ok()) return key_error(r.error(), key);
  return r;
}

Status read_optional_id(const gguf::File& f, const char* key, std::optional<int64_t>& out) {
  if (!f.has(key)) return Status::success();
  EF_ASSIGN_OR_RETURN(out, keyed(f.get_int(key), key));
  return Status::success();
}

Status read_optional_bool(const gguf::File& f, const char* key, std::optional<bool>& out) {
  if (!f.has(key)) return Status::success();
  EF_ASSIGN_OR_RETURN(out, keyed(f.get_bool(key), key));
  return Status::success();
}

// tokenizer.ggml.scores is normally f32; llama.cpp also accepts i32.
Status read_scores(const gguf::File& f, std::vector<float>& out) {
  constexpr const char* key = "tokenizer.ggml.scores";
  const gguf::KeyValue* kv = f.find(key);
  if (!kv) return Status::success();
  if (kv->value.type == gguf::ValueType::array && kv->value.array_type == gguf::ValueType::i32) {
    EF_ASSIGN_OR_RETURN(std::vector<int32_t> ints, keyed(f.get_i32_array(key), key));
    out.assign(ints.begin(), ints.end());
    return Status::success();
  }
  EF_ASSIGN_OR_RETURN(out, keyed(f.get_f32_array(key), key));
  return Status::success();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
  tok::VocabSpec spec;
  constexpr const char* kModelKey = "tokenizer.ggml.model";
  if (!file.has(kModelKey)) {
    return make_error(Errc::format, "the file has no tokenizer", kModelKey,
                      "use a GGUF that includes its vocabulary (tokenizer.ggml.*)");
  }
  EF_ASSIGN_OR_RETURN(spec.model, keyed(file.get_string(kModelKey), kModelKey));
  if (spec.model != "llama" && spec.model != "gpt2") {
    return make_error(Errc::unsupported, "tokenizer model '" + spec.model + "' not supported",
                      kModelKey,
                      "supported: 'llama' (SentencePiece-style) and 'gpt2' (byte-level BPE)");
  }
  if (spec.model == "gpt2") {
    constexpr const char* kMergesKey = "tokenizer.ggml.merges";
    if (!file.has(kMergesKey))
      return make_error(Errc::format, "missing merges", kMergesKey,
                        "a byte-level BPE (gpt2) vocabulary needs its merges");
    EF_ASSIGN_OR_RETURN(std::vector<std::string_view> merges,
                        keyed(file.get_string_array(kMergesKey), kMergesKey));
    spec.merges.assign(merges.begin(), merges.end());
    if (constexpr const char* key = "tokenizer.ggml.pre"; file.has(key)) {
      EF_ASSIGN_OR_RETURN(spec.pre, keyed(file.get_string(key), key));
    }
  }

  constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
  if (!file.has(kTokensKey)) return make_error(Errc::format, "missing vocabulary", kTokensKey);
  EF_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens,
                      keyed(file.get_string_array(kTokensKey), kTokensKey));
  spec.tokens.assign(tokens.begin(), tokens.end());

  EF_TRY(read_scores(file, spec.scores));
  if (constexpr const char* key = "tokenizer.ggml.token_type"; file.has(key)) {
    EF_ASSIGN_OR_RETURN(spec.types, keyed(file.get_i32_array(key), key));
  }

  EF_TRY(read_optional_id(file, "tokenizer.ggml.bos_token_id", spec.bos_id));
  EF_TRY(read_optional_id(file, "tokenizer.ggml.eos_token_id", spec.eos_id));
  EF_TRY(read_optional_id(file, "tokenizer.ggml.unknown_token_id", spec.unk_id));
  EF_TRY(read_optional_id(file, "tokenizer.ggml.padding_token_id", spec.pad_id));
  EF_TRY(read_optional_id(file, "tokenizer.ggml.eot_token_id", spec.eot_id));
  EF_TRY(read_optional_id(file, "tokenizer.ggml.eom_token_id", spec.eom_id));
  // Current FIM keys first; the deprecated names fill in when those are absent.
  static const char* const kFimKeys[6][2] = {
      {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
      {"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
      {"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
      {"tokenizer.ggml.fim_pad_token_id", nullptr},
      {"tokenizer.ggml.fim_rep_token_id", nullptr},
      {"tokenizer.ggml.fim_sep_token_id", nullptr},
  };
  for (size_t k = 0; k < 6; ++k) {
    EF_TRY(read_optional_id(file, kFimKeys[k][0], spec.fim_ids[k]));
    if (!spec.fim_ids[k] && kFimKeys[k][1])
      EF_TRY(read_optional_id(file, kFimKeys[k][1], spec.fim_ids[k]));
  }

  EF_TRY(read_optional_bool(file, "tokenizer.ggml.add_bos_token", spec.add_bos));
  EF_TRY(read_optional_bool(file, "tokenizer.ggml.add_eos_token", spec.add_eos));
  EF_TRY(read_optional_bool(file, "tokenizer.ggml.add_space_prefix", spec.add_space_prefix));

  // general.name only selects model-specific fix-ups; a bad type is ignored.
  if (file.has("general.name")) {
    if (auto name = file.get_string("general.name"); name.ok()) spec.name = std::move(name).value();
  }
  return tok::make_tokenizer(std::move(spec));
}

}  // namespace ef
