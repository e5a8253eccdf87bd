#pragma once
// Result<T>: a small std::expected look-alike (GCC 12 has no std::expected), so it can be swapped later.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace chorus {

// The canonical error codes (abseil's set).
enum class Code : std::uint8_t {
  Ok = 0,
  Cancelled,
  Unknown,
  InvalidArgument,
  DeadlineExceeded,
  NotFound,
  AlreadyExists,
  PermissionDenied,
  ResourceExhausted,
  FailedPrecondition,
  Aborted,
  OutOfRange,
  Unimplemented,
  Internal,
  Unavailable,
  DataLoss,
  Unauthenticated,
};

std::string_view codeName(Code code);

struct Error {
  Code code{Code::Unknown};
  std::string message;

  Error() = default;
  Error(Code c, std::string m) : code(c), message(std::move(m)) {}
  std::string toString() const;
};

// Tag type for constructing a Result in the error state, like std::unexpected.
struct Unexpected {
  Error error;
};
inline Unexpected fail(Code code, std::string message) {
  return Unexpected{Error{code, std::move(message)}};
}
inline Unexpected fail(Error error) {
  return Unexpected{std::move(error)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : error_(std::move(u.error)), ok_(false) {}
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_{true};
};

using Status = Result<void>;
inline Status ok() {
  return Status{};
}

}  // namespace chorus
