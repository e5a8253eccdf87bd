#pragma once
// Bounded reordering of to-device call signalling by `seq` (MSC3401 §3.5). See docs/seq-policy.md.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "base/clock.hpp"
#include "proto/signalling.hpp"

namespace chorus::core {

struct SeqConfig {
  std::uint64_t window{64};                      // accept seq in [next, next + window]
  std::size_t max_buffered_per_key{64};          // messages held for one key
  std::size_t max_bytes_per_key{512 * 1024};     // bytes held for one key
  std::size_t max_keys{1024};                    // (user, device, call_id) keys tracked at once
  std::size_t max_total_bytes{4 * 1024 * 1024};  // bytes held across all keys
  TimeMs gap_timeout_ms{10'000};                 // how long a gap may block before we skip it
};

struct SeqKey {
  std::string user_id;
  std::string device_id;
  std::string call_id;
  auto operator<=>(const SeqKey&) const = default;
};

struct SeqItem {
  std::string sender;  // user id
  proto::CallSignal signal;
  std::size_t bytes{0};
};

// Why a message was not delivered (for counters).
enum class SeqDrop { Duplicate, BeyondWindow, BufferFull, TooManyKeys };

class SeqReorderer {
 public:
  explicit SeqReorderer(SeqConfig config) : config_(config) {}

  struct Result {
    std::vector<SeqItem> ready;      // in order, to dispatch now
    std::optional<SeqDrop> dropped;  // set when the pushed message was dropped
  };

  // Pushes one message. A message without seq is delivered at once. An invite for a key never seen starts the
  // window at its own seq.
  Result push(SeqItem item, TimeMs now);

  // For each key whose gap has blocked for gap_timeout_ms, takes the missing messages as lost and releases
  // all it holds in seq order. Returns the released messages; counts the skipped seqs in gapsSkipped().
  std::vector<SeqItem> onTimeout(TimeMs now);
  std::optional<TimeMs> nextTimeout() const;

  // Forget a key (the leg ended).
  void forget(const SeqKey& key);

  std::size_t keyCount() const { return keys_.size(); }
  std::size_t bufferedCount() const;
  std::size_t bufferedBytes() const { return total_bytes_; }
  std::uint64_t gapsSkipped() const { return gaps_skipped_; }
  // Messages that arrived early and waited for a gap to fill.
  std::uint64_t heldCount() const { return held_; }
  const SeqConfig& config() const { return config_; }

 private:
  struct KeyState {
    std::uint64_t next{0};
    std::map<std::uint64_t, SeqItem> buffer;  // seq -> message
    std::size_t bytes{0};
    TimeMs gap_since{0};  // when the buffer became non-empty (valid while !buffer.empty())
    TimeMs last_active{0};
  };
  void drain(KeyState& st, std::vector<SeqItem>& out);
  bool makeRoomForKey(TimeMs now);

  SeqConfig config_;
  std::map<SeqKey, KeyState> keys_;
  std::size_t total_bytes_{0};
  std::uint64_t gaps_skipped_{0};
  std::uint64_t held_{0};
};

}  // namespace chorus::core
