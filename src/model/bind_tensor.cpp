// Binding one weight tensor of a model file (see bind_tensor.h).
#include "model/bind_tensor.h"

#include "kernels/kernels.h"

namespace ef {
namespace {

std::string shape_string(const int64_t* ne, int n) {
  std::string s = "{";
  for (int i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "}";
}

}  // namespace

Result<Tensor> bind_tensor(const gguf::File& file, const char* arch, const std::string& name,
                           TensorKind kind, int64_t ne0, int64_t ne1, int64_t ne2) {
  const gguf::TensorInfo* info = file.find_tensor(name);
  const int n_expect = kind == TensorKind::norm ? 1 : (ne2 > 1 ? 3 : 2);
  const int64_t expect[4] = {ne0, ne1, ne2, 1};
  if (info == nullptr) {
    return make_error(
        Errc::format,
        "tensor '" + name + "' is missing (expected shape " + shape_string(expect, n_expect) + ")",
        file.path(), std::string("not a complete ") + arch + " model file");
  }
  for (int i = 0; i < 4; ++i) {
    if (info->ne[i] != expect[i]) {
      return make_error(
          Errc::format,
          "tensor '" + name + "' has shape " +
              shape_string(info->ne, info->n_dims > 0 ? info->n_dims : 1) + ", expected " +
              shape_string(expect, n_expect),
          file.path(),
          std::string("the tensor does not match the ") + arch + ".* hyper-parameters");
    }
  }
  if (!dtype_traits(info->ggml_type)) {
    return make_error(Errc::unsupported,
                      "tensor '" + name + "' has type " + ggml_type_name(info->ggml_type) +
                          ", which is not supported",
                      file.path(), "convert the model to F32, F16, BF16, Q8_0 or Q4_0");
  }
  if (kind == TensorKind::norm && info->type != DType::F32) {
    return make_error(
        Errc::unsupported,
        "norm tensor '" + name + "' has type " + dtype_name(info->type) + ", expected f32",
        file.path());
  }
  Tensor t = info->view();
  if (kind == TensorKind::matrix) {
    Status ok = kernels::validate_matmul_weight(t);
    if (!ok.ok()) {
      Error e = ok.take_error();
      e.what = "tensor '" + name + "': " + e.what;
      return e;
    }
  }
  return t;
}

}  // namespace ef
