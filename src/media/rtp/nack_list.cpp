#include "media/rtp/nack_list.hpp"

namespace chorus::media {

bool NackList::add(std::int64_t from, std::int64_t to, TimeMs now) noexcept {
  if (to - from > static_cast<std::int64_t>(entries_.size() - size_)) return false;
  for (std::int64_t e = from; e < to; ++e) entries_[size_++] = Entry{e, now, 0, 0};
  return true;
}

bool NackList::recovered(std::int64_t ext) noexcept {
  for (std::size_t i = 0; i < size_; ++i) {
    if (entries_[i].ext == ext) {
      entries_[i] = entries_[--size_];
      return true;
    }
  }
  for (auto& g : given_up_) {
    if (g == ext && ext != kNone) {
      g = kNone;
      return true;
    }
  }
  return false;
}

bool NackList::wasGivenUp(std::int64_t ext) const noexcept {
  if (ext == kNone) return false;
  for (const auto g : given_up_) {
    if (g == ext) return true;
  }
  return false;
}

void NackList::clear() noexcept {
  size_ = 0;
  given_up_.fill(kNone);
}

bool NackList::contains(std::int64_t ext) const noexcept {
  for (std::size_t i = 0; i < size_; ++i) {
    if (entries_[i].ext == ext) return true;
  }
  return false;
}

NackList::Due NackList::due(TimeMs now, const NackPolicy& policy, std::span<std::uint16_t> out) noexcept {
  Due d;
  for (std::size_t i = 0; i < size_;) {
    Entry& e = entries_[i];
    if (now - e.since > policy.max_age_ms || e.tries >= policy.max_tries) {
      ++d.given_up;
      given_up_[given_up_next_] = e.ext;
      given_up_next_ = (given_up_next_ + 1) % given_up_.size();
      e = entries_[--size_];
      continue;
    }
    if (d.count < out.size() && (e.tries == 0 || now - e.last_sent >= policy.retry_ms)) {
      out[d.count++] = static_cast<std::uint16_t>(e.ext);
      e.last_sent = now;
      ++e.tries;
    }
    ++i;
  }
  return d;
}

}  // namespace chorus::media
