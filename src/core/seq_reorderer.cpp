#include "core/seq_reorderer.hpp"

#include <limits>

namespace chorus::core {

SeqReorderer::Result SeqReorderer::push(SeqItem item, TimeMs now) {
  Result res;
  if (!item.signal.seq) {
    res.ready.push_back(std::move(item));
    return res;
  }
  const std::uint64_t seq = *item.signal.seq;
  SeqKey key{item.sender, item.signal.device_id, item.signal.call_id};
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= config_.max_keys && !makeRoomForKey(now)) {
      res.dropped = SeqDrop::TooManyKeys;
      return res;
    }
    KeyState st;
    // A new call starts at its invite's seq (normally 0); anything else waits for seq 0.
    st.next = item.signal.type == proto::SignalType::Invite ? seq : 0;
    it = keys_.emplace(std::move(key), std::move(st)).first;
  }
  KeyState& st = it->second;
  st.last_active = now;
  if (seq < st.next) {
    res.dropped = SeqDrop::Duplicate;
    return res;
  }
  if (seq == st.next) {
    st.next = seq + 1;
    res.ready.push_back(std::move(item));
    drain(st, res.ready);
    return res;
  }
  // seq > next: hold it, within bounds.
  if (seq - st.next > config_.window) {
    res.dropped = SeqDrop::BeyondWindow;
    return res;
  }
  if (st.buffer.count(seq)) {
    res.dropped = SeqDrop::Duplicate;
    return res;
  }
  if (st.buffer.size() >= config_.max_buffered_per_key || st.bytes + item.bytes > config_.max_bytes_per_key ||
      total_bytes_ + item.bytes > config_.max_total_bytes) {
    res.dropped = SeqDrop::BufferFull;
    return res;
  }
  if (st.buffer.empty()) st.gap_since = now;
  st.bytes += item.bytes;
  total_bytes_ += item.bytes;
  ++held_;
  st.buffer.emplace(seq, std::move(item));
  return res;
}

void SeqReorderer::drain(KeyState& st, std::vector<SeqItem>& out) {
  while (!st.buffer.empty() && st.buffer.begin()->first == st.next) {
    auto node = st.buffer.extract(st.buffer.begin());
    st.bytes -= node.mapped().bytes;
    total_bytes_ -= node.mapped().bytes;
    out.push_back(std::move(node.mapped()));
    ++st.next;
  }
}

std::vector<SeqItem> SeqReorderer::onTimeout(TimeMs now) {
  std::vector<SeqItem> out;
  for (auto& [key, st] : keys_) {
    if (st.buffer.empty() || now - st.gap_since < config_.gap_timeout_ms) continue;
    // The missing messages are taken as lost: release everything held, in seq order, skipping every gap.
    for (auto& [seq, item] : st.buffer) {
      gaps_skipped_ += seq - st.next;
      st.next = seq + 1;
      total_bytes_ -= item.bytes;
      out.push_back(std::move(item));
    }
    st.buffer.clear();
    st.bytes = 0;
  }
  return out;
}

std::optional<TimeMs> SeqReorderer::nextTimeout() const {
  std::optional<TimeMs> best;
  for (const auto& [key, st] : keys_) {
    if (st.buffer.empty()) continue;
    TimeMs t = st.gap_since + config_.gap_timeout_ms;
    if (!best || t < *best) best = t;
  }
  return best;
}

void SeqReorderer::forget(const SeqKey& key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  total_bytes_ -= it->second.bytes;
  keys_.erase(it);
}

std::size_t SeqReorderer::bufferedCount() const {
  std::size_t n = 0;
  for (const auto& [k, st] : keys_) n += st.buffer.size();
  return n;
}

bool SeqReorderer::makeRoomForKey(TimeMs now) {
  // Evict the least recently active key that holds nothing; keys with buffered messages are kept.
  auto victim = keys_.end();
  TimeMs oldest = std::numeric_limits<TimeMs>::max();
  for (auto it = keys_.begin(); it != keys_.end(); ++it) {
    if (it->second.buffer.empty() && it->second.last_active < oldest) {
      oldest = it->second.last_active;
      victim = it;
    }
  }
  (void)now;
  if (victim == keys_.end()) return false;
  keys_.erase(victim);
  return true;
}

}  // namespace chorus::core
