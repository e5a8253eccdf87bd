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
#include "proto/room_events.hpp"

namespace chorus::matrix {

inline constexpr std::size_t kMaxSyncBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxSyncDepth = 64;

struct SyncRoom {
  // State events in the order they apply: `state` (the state before the timeline) first, then the state
  // events of the timeline.
  std::vector<proto::StateEvent> state;
  bool limited{false};
};

struct SyncBatch {
  std::string next_batch;
  std::map<std::string, SyncRoom> join;
  std::set<std::string> invite;
  std::set<std::string> leave;
  std::vector<proto::ToDeviceMessage> to_device;
  // E2EE (issue #13): device_one_time_keys_count.signed_curve25519, whether device_unused_fallback_key_types
  // lists signed_curve25519 (nullopt: the field is absent), and device_lists.changed (bounded).
  std::optional<std::int64_t> one_time_key_count;
  std::optional<bool> fallback_key_unused;
  std::vector<std::string> device_lists_changed;
};

// Lenient like a client must be: malformed events are skipped (and counted), not fatal; invalid UTF-8 is
// decoded lossily (see repairUtf8; *invalid_utf8 counts the replaced sequences), so one bad event cannot
// stall the sync loop; the reply as a whole fails only when it is not JSON or lacks next_batch.
Result<SyncBatch> parseSyncResponse(std::string_view body, std::size_t* skipped_events = nullptr,
                                    std::size_t* invalid_utf8 = nullptr);
Result<SyncBatch> parseSyncResponse(const boost::json::object& root, std::size_t* skipped_events = nullptr);

// A Matrix error reply: {"errcode", "error", "retry_after_ms"?}.
struct MatrixError {
  long status{0};
  std::string errcode;
  std::string error;
  std::optional<std::int64_t> retry_after_ms;
};
MatrixError parseMatrixError(long status, std::string_view body);

// Bounded JSON parse of a homeserver reply. Ill-formed UTF-8 (which a homeserver may store raw from a hostile
// client, e.g. an event type sent as a percent-encoded 0xFF) is replaced by U+FFFD rather than failing the
// whole reply; *invalid_utf8 receives the number of replaced sequences.
Result<boost::json::object> parseReply(std::string_view body, std::size_t max_bytes = 1024 * 1024,
                                       std::size_t* invalid_utf8 = nullptr);

// Lossy UTF-8 decoding: every maximal ill-formed subpart (Unicode 15 §3.9, as WHATWG and ICU do) becomes
// U+FFFD. Returns the number of replacements; `out` is written only when that is not 0.
std::size_t repairUtf8(std::string_view in, std::string& out);

// JSON text whose backslash-u escapes name a lone UTF-16 surrogate (a high one not followed by a low one, or
// a low one alone, e.g. backslash-u-d800) is valid to some homeservers but not to Boost.JSON, so one such
// string from a hostile member would fail the whole reply. Each lone surrogate escape becomes the escape of
// U+FFFD (the replacement character). Returns the number of replacements; `out` is written only when that is
// not 0.
std::size_t repairSurrogateEscapes(std::string_view in, std::string& out);

// Percent-encodes one path segment (room ids, user ids, event types, txn ids).
std::string encodePathSegment(std::string_view s);

}  // namespace chorus::matrix
