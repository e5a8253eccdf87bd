#pragma once
// Pure parsing of the client-server API replies the shell consumes (no HTTP here), so it can be fuzzed.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.hpp"
#include "core/types.hpp"

namespace chorus::matrix {

inline constexpr std::size_t kMaxSyncBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxSyncDepth = 64;

struct SyncRoom {
  // State events in the order they apply: `state` (the state before the timeline) first, then the state
  // events of the timeline.
  std::vector<core::StateEvent> state;
  bool limited{false};
};

struct SyncBatch {
  std::string next_batch;
  std::map<std::string, SyncRoom> join;
  std::set<std::string> invite;
  std::set<std::string> leave;
  std::vector<core::ToDeviceMessage> to_device;
};

// Lenient like a client must be: malformed events are skipped (and counted), not fatal; the reply as a whole
// fails only when it is not JSON or lacks next_batch.
Result<SyncBatch> parseSyncResponse(std::string_view body, std::size_t* skipped_events = nullptr);
Result<SyncBatch> parseSyncResponse(const boost::json::object& root, std::size_t* skipped_events = nullptr);

// A Matrix error reply: {"errcode", "error", "retry_after_ms"?}.
struct MatrixError {
  long status{0};
  std::string errcode;
  std::string error;
  std::optional<std::int64_t> retry_after_ms;
};
MatrixError parseMatrixError(long status, std::string_view body);

// Bounded JSON parse of a homeserver reply.
Result<boost::json::object> parseReply(std::string_view body, std::size_t max_bytes = 1024 * 1024);

// Percent-encodes one path segment (room ids, user ids, event types, txn ids).
std::string encodePathSegment(std::string_view s);

}  // namespace chorus::matrix
