#pragma once
// Result<T>: a small std::expected look-alike (GCC 12 has no std::expected), so it can be swapped later.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
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

// E is the error type: base's Error by default; a layer may use its own (hs: MxError, a Matrix errcode and
// HTTP status), which then converts implicitly, while base's Error is returned through fail().
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Unexpected u) requires std::is_same_v<E, Error> : v_(std::in_place_index<1>, std::move(u.error)) {}
  Result(E e) requires(!std::is_same_v<E, Error>) : v_(std::in_place_index<1>, std::move(e)) {}

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

  const E& error() const { return std::get<1>(v_); }
  E& error() { return std::get<1>(v_); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Unexpected u) requires std::is_same_v<E, Error> : error_(std::move(u.error)), ok_(false) {}
  Result(E e) requires(!std::is_same_v<E, Error>) : error_(std::move(e)), ok_(false) {}
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return error_; }
  E& error() { return error_; }

 private:
  E error_;
  bool ok_{true};
};

using Status = Result<void>;
inline Status ok() {
  return Status{};
}

}  // namespace chorus
