// Error handling for the whole library: no exceptions cross the API and the
// library never calls exit/abort. Every fallible function returns Status or
// Result<T>; an Error says what went wrong, where (field, offset, file) and
// how to fix it.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ef {

enum class Errc {
  invalid_argument,  // bad flag, prompt or API argument
  io,                // open/read/write/rename failed
  format,            // malformed file contents
  unsupported,       // valid but not implemented (dtype, architecture, ...)
  out_of_range,      // value outside allowed range
  out_of_memory,     // allocation refused or over budget
  internal,          // a bug: invariant broken
};

const char* errc_name(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string what;   // one line: what is wrong
  std::string where;  // field / offset / file, may be empty
  std::string hint;   // how to fix, may be empty

  // "what (where) — hint" on one line.
  std::string message() const;
};

inline Error make_error(Errc code, std::string what, std::string where = {},
                        std::string hint = {}) {
  return Error{code, std::move(what), std::move(where), std::move(hint)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status success() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Error&& take_error() { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace ef

// Propagate a failed Status / Result<T> to the caller.
#define EF_CONCAT_INNER(a, b) a##b
#define EF_CONCAT(a, b) EF_CONCAT_INNER(a, b)

#define EF_TRY(expr)                                   \
  do {                                                 \
    auto ef_try_status_ = (expr);                      \
    if (!ef_try_status_.ok()) return ef_try_status_.take_error(); \
  } while (0)

#define EF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.take_error();        \
  lhs = std::move(tmp).value()

#define EF_ASSIGN_OR_RETURN(lhs, expr) \
  EF_ASSIGN_OR_RETURN_IMPL(EF_CONCAT(ef_result_, __LINE__), lhs, expr)
