// `edgeformer quantize IN OUT TYPE`: converts a float GGUF to another type.
//
// Rules (llama.cpp's llama-quantize for the types we support):
//  - every 2-D weight matrix becomes TYPE; one whose row length ne[0] is not a
//    multiple of TYPE's block size keeps its type (with a note);
//  - 1-D tensors (norm weights) are stored as F32;
//  - all metadata is copied; general.file_type is set to ggml's LLAMA_FTYPE
//    (and general.quantization_version = 2 for quantized types);
//  - the output is written atomically: on any failure nothing is left at OUT.
// Conversion goes through float rows: source to_float, then target from_float
// (the kernels' reference-exact converters).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "core/dtype.h"
#include "gguf_format.h"
#include "io/gguf.h"
#include "kernels/kernels.h"

namespace ef::cli {
namespace {

struct QuantizeOptions {
  std::string input;
  std::string output;
  std::string type;
  bool progress = false;
};

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Fails early (before any work) if OUT cannot be created.
Status check_output_path(const std::string& in, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec) && fs::exists(in, ec) && fs::equivalent(in, out, ec)) {
    return usage_error("output would overwrite the input", out, "choose another output path");
  }
  fs::path dir = fs::path(out).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) {
    return make_error(Errc::io, "cannot write output: directory does not exist", dir.string());
  }
  if (access(dir.c_str(), W_OK) != 0) {
    return make_error(Errc::io, std::string("cannot write output: ") + std::strerror(errno),
                      dir.string());
  }
  return Status::success();
}

// Converts `rows` rows of n elements from src (type `from`) to dst (type `to`).
void convert_rows(const uint8_t* src, DType from, uint8_t* dst, DType to, int64_t n, int64_t rows,
                  std::vector<float>& tmp) {
  const auto& table = kernels::active();
  const size_t src_row = *row_size_bytes(from, static_cast<uint64_t>(n));
  const size_t dst_row = *row_size_bytes(to, static_cast<uint64_t>(n));
  tmp.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* s = src + static_cast<size_t>(r) * src_row;
    uint8_t* d = dst + static_cast<size_t>(r) * dst_row;
    if (from == to) {
      std::memcpy(d, s, src_row);
      continue;
    }
    if (from == DType::F32) {
      std::memcpy(tmp.data(), s, src_row);
    } else {
      table.for_type(from).to_float(s, tmp.data(), n);
    }
    if (to == DType::F32) {
      std::memcpy(d, tmp.data(), dst_row);
    } else {
      table.for_type(to).from_float(tmp.data(), d, n);
    }
  }
}

bool skip_rewritten_key(std::string_view key) {
  return key == "general.file_type" || key == "general.quantization_version" ||
         key == "general.alignment";
}

Status run_quantize(const QuantizeOptions& o) {
  const auto target = dtype_from_name(o.type);
  if (!target) {
    return usage_error("unknown target type '" + o.type + "'", "TYPE",
                       "use one of q8_0, q4_0, f16, bf16, f32");
  }
  EF_TRY(check_output_path(o.input, o.output));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(o.input));

  // Plan: every tensor's output type, and refuse inputs we cannot convert.
  struct Item {
    const gguf::TensorInfo* info;
    DType to;
  };
  std::vector<Item> plan;
  uint64_t total_in = 0;
  int kept = 0;
  for (const auto& t : file->tensors()) {
    if (!dtype_traits(t.ggml_type)) {
      return make_error(Errc::unsupported,
                        std::string("tensor type ") + ggml_type_name(t.ggml_type) +
                            " cannot be converted",
                        t.name, "quantize needs an F32/F16/BF16 model");
    }
    DType to = t.type;
    if (t.n_dims == 1) {
      to = DType::F32;
    } else if (t.n_dims == 2) {
      to = *target;
      if (t.ne[0] % traits(*target).block_size != 0) {
        std::fprintf(stderr, "note: %s: row length %lld is not a multiple of %d, kept as %s\n",
                     t.name.c_str(), static_cast<long long>(t.ne[0]), traits(*target).block_size,
                     dtype_name(t.type));
        to = t.type;
        ++kept;
      }
    }
    if (to != t.type && !is_float_type(t.type)) {
      return make_error(Errc::unsupported,
                        std::string("tensor is already ") + dtype_name(t.type) +
                            "; re-quantizing would compound the error",
                        t.name, "quantize from the F32/F16/BF16 model");
    }
    plan.push_back({&t, to});
    total_in += t.size_bytes;
  }

  gguf::Writer writer;
  if (file->has("general.alignment")) writer.set_alignment(static_cast<uint32_t>(file->alignment()));
  writer.copy_metadata(*file, skip_rewritten_key);
  writer.set_u32("general.file_type", llama_ftype_for(*target));
  if (!is_float_type(*target)) writer.set_u32("general.quantization_version", 2);

  std::fprintf(stderr, "quantize: %s -> %s as %s, %zu tensors\n", o.input.c_str(),
               o.output.c_str(), dtype_name(*target), plan.size());
  Progress progress("quantize", static_cast<int64_t>(plan.size()), o.progress);
  uint64_t total_out = 0;
  std::vector<float> tmp;
  // Converted tensors live here until write(); unchanged ones are written
  // straight from the input mapping (no copy).
  std::deque<std::vector<uint8_t>> converted;
  int64_t done = 0;
  for (const Item& item : plan) {
    const gguf::TensorInfo& t = *item.info;
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (item.to == t.type) {
      EF_TRY(writer.add_tensor_view(
          t.name, t.type, std::move(ne),
          std::span<const uint8_t>(static_cast<const uint8_t*>(t.data), t.size_bytes)));
      total_out += t.size_bytes;
      progress.update(++done);
      continue;
    }
    const int64_t n = t.ne[0];
    int64_t rows = 1;
    for (int d = 1; d < t.n_dims; ++d) rows *= t.ne[d];
    const uint64_t out_bytes = *row_size_bytes(item.to, static_cast<uint64_t>(n)) *
                               static_cast<uint64_t>(rows);
    std::vector<uint8_t>& out = converted.emplace_back(out_bytes);
    convert_rows(static_cast<const uint8_t*>(t.data), t.type, out.data(), item.to, n, rows, tmp);
    EF_TRY(writer.add_tensor_view(t.name, item.to, std::move(ne), out));
    total_out += out_bytes;
    progress.update(++done);
  }
  progress.finish();
  EF_TRY(writer.write(o.output));

  std::error_code ec;
  const auto out_file = std::filesystem::file_size(o.output, ec);
  std::printf("tensor data: %s -> %s (%.2fx smaller)%s\n", format_bytes(total_in).c_str(),
              format_bytes(total_out).c_str(),
              total_out ? static_cast<double>(total_in) / static_cast<double>(total_out) : 0.0,
              kept ? strprintf(", %d tensors kept their type", kept).c_str() : "");
  std::printf("file size:   %s -> %s\n", format_bytes(file->file_size()).c_str(),
              ec ? "?" : format_bytes(out_file).c_str());
  std::printf("wrote %s (general.file_type = %u, %s)\n", o.output.c_str(),
              llama_ftype_for(*target), llama_ftype_name(llama_ftype_for(*target)).c_str());
  return Status::success();
}

}  // namespace

void add_quantize_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* sub = app.add_subcommand("quantize", "Convert an F32/F16/BF16 GGUF model to "
                                                 "q8_0, q4_0, f16, bf16 or f32");
  sub->add_option("input", o->input, "Input GGUF model")->required();
  sub->add_option("output", o->output, "Output GGUF path (written atomically)")->required();
  sub->add_option("type", o->type, "Target type: q8_0 | q4_0 | f16 | bf16 | f32")->required();
  sub->add_flag("--progress", o->progress, "Show a progress line even when stderr is not a TTY");
  commands.push_back({sub, [o]() { return run_quantize(*o); }});
}

}  // namespace ef::cli
