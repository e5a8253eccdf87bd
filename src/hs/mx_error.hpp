#pragma once
// A Matrix error (HTTP status + errcode + message) and MxResult<T> = base Result<T, MxError>, the return type
// of the service layer and of everything in hs that can fail with a Matrix error.
#include <string>
#include <utility>

#include <boost/json.hpp>

#include "base/result.hpp"

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

// The hs layers' result: base's Result with MxError as its error, so a service call returns either its value
// or the Matrix error the client gets (errcode, HTTP status, extra fields).
template <typename T>
using MxResult = Result<T, MxError>;
using MxStatus = Result<void, MxError>;
inline MxStatus mxOk() {
  return MxStatus{};
}

}  // namespace chorus::hs
