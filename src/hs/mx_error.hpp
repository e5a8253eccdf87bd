#pragma once
// A Matrix error (HTTP status + errcode + message) and MxResult<T>, the service layer's return type.
#include <string>
#include <utility>
#include <variant>

#include <boost/json.hpp>

namespace chorus::hs {

struct MxError {
  int status{500};
  std::string errcode{"M_UNKNOWN"};
  std::string error;
  boost::json::object extra;  // extra top-level fields, e.g. retry_after_ms
};

inline MxError mxError(int status, std::string errcode, std::string error) {
  return MxError{status, std::move(errcode), std::move(error), {}};
}
inline MxError forbidden(std::string why) {
  return mxError(403, "M_FORBIDDEN", std::move(why));
}
inline MxError notFound(std::string why) {
  return mxError(404, "M_NOT_FOUND", std::move(why));
}
inline MxError badJson(std::string why) {
  return mxError(400, "M_BAD_JSON", std::move(why));
}
inline MxError invalidParam(std::string why) {
  return mxError(400, "M_INVALID_PARAM", std::move(why));
}

template <typename T>
class [[nodiscard]] MxResult {
 public:
  MxResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  MxResult(MxError e) : v_(std::in_place_index<1>, std::move(e)) {}
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const MxError& error() const { return std::get<1>(v_); }
  MxError& error() { return std::get<1>(v_); }

 private:
  std::variant<T, MxError> v_;
};

struct Unit {};
using MxStatus = MxResult<Unit>;
inline MxStatus mxOk() {
  return Unit{};
}

}  // namespace chorus::hs
