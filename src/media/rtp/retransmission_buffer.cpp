#include "media/rtp/retransmission_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace chorus::media {

namespace {

std::size_t roundBufferCapacity(std::size_t c) {
  std::size_t p = 1;
  while (p < c && p < 32768) p <<= 1;
  return p;
}

}  // namespace

RetransmissionBuffer::RetransmissionBuffer(RetransmissionBufferConfig config)
    : config_(config),
      max_capacity_(roundBufferCapacity(std::max<std::size_t>(config.capacity, 1))),
      capacity_(config.initial_capacity == 0
                    ? max_capacity_
                    : std::min(max_capacity_, roundBufferCapacity(config.initial_capacity))),
      storage_(new std::uint8_t[capacity_ * config.max_packet_size]),
      slots_(new Slot[capacity_]) {}

bool RetransmissionBuffer::grow() noexcept {
  if (capacity_ >= max_capacity_) return false;
  const std::size_t cap = capacity_ * 2;
  std::unique_ptr<std::uint8_t[]> storage(new (std::nothrow) std::uint8_t[cap * config_.max_packet_size]);
  std::unique_ptr<Slot[]> slots(new (std::nothrow) Slot[cap]);
  if (!storage || !slots) return false;
  // Every stored packet is within the old capacity of the newest, so none collide in the larger ring.
  for (std::size_t i = 0; i < capacity_; ++i) {
    const Slot& s = slots_[i];
    if (!s.used) continue;
    const std::size_t j = static_cast<std::size_t>(s.ext_seq) & (cap - 1);
    slots[j] = s;
    std::memcpy(storage.get() + j * config_.max_packet_size, storage_.get() + i * config_.max_packet_size,
                s.size);
  }
  storage_ = std::move(storage);
  slots_ = std::move(slots);
  capacity_ = cap;
  return true;
}

void RetransmissionBuffer::clear() noexcept {
  for (std::size_t i = 0; i < capacity_; ++i) slots_[i] = Slot{};
  seq_.reset();
  count_ = 0;
}

RetransmissionBuffer::StoreResult RetransmissionBuffer::store(std::uint16_t seq, ByteSpan packet,
                                                              TimeMs now) noexcept {
  if (packet.size() > config_.max_packet_size) return StoreResult::TooLarge;
  bool restarted = false;
  if (seq_.initialized()) {
    const std::int64_t distance = seq_.highest() - seq_.peek(seq);
    if (distance >= static_cast<std::int64_t>(capacity_)) {
      if (distance < kRestartDistance) return StoreResult::TooOld;
      clear();
      restarted = true;
    } else if (distance <= -kRestartDistance) {
      clear();
      restarted = true;
    }
  }
  const std::int64_t ext = seq_.unwrap(seq);
  // Overwriting a packet that could still be asked for: grow instead, while allowed.
  while (true) {
    const Slot& old = slots_[static_cast<std::size_t>(ext) & (capacity_ - 1)];
    if (!old.used || old.ext_seq == ext || now - old.stored_at > config_.max_age_ms || !grow()) break;
  }
  Slot& slot = slots_[static_cast<std::size_t>(ext) & (capacity_ - 1)];
  const bool replaced = slot.used && slot.ext_seq == ext;
  if (!slot.used) ++count_;
  slot.ext_seq = ext;
  slot.size = static_cast<std::uint32_t>(packet.size());
  slot.used = true;
  slot.stored_at = now;
  slot.resent = false;
  if (!packet.empty()) {
    std::memcpy(storage_.get() + (static_cast<std::size_t>(ext) & (capacity_ - 1)) * config_.max_packet_size,
                packet.data(), packet.size());
  }
  if (restarted) return StoreResult::Restarted;
  return replaced ? StoreResult::Replaced : StoreResult::Stored;
}

std::optional<ByteSpan> RetransmissionBuffer::getForResend(std::uint16_t seq, TimeMs now,
                                                           TimeMs min_interval_ms) noexcept {
  const auto packet = get(seq, now);
  if (!packet) return std::nullopt;
  Slot& slot = slots_[static_cast<std::size_t>(seq_.peek(seq)) & (capacity_ - 1)];
  if (slot.resent && now - slot.resent_at < min_interval_ms) return std::nullopt;
  slot.resent = true;
  slot.resent_at = now;
  return packet;
}

std::optional<ByteSpan> RetransmissionBuffer::get(std::uint16_t seq, TimeMs now) const noexcept {
  if (!seq_.initialized()) return std::nullopt;
  const std::int64_t ext = seq_.peek(seq);
  if (ext > seq_.highest() || seq_.highest() - ext >= static_cast<std::int64_t>(capacity_))
    return std::nullopt;
  const std::size_t index = static_cast<std::size_t>(ext) & (capacity_ - 1);
  const Slot& slot = slots_[index];
  if (!slot.used || slot.ext_seq != ext) return std::nullopt;
  if (now - slot.stored_at > config_.max_age_ms) return std::nullopt;
  return ByteSpan(storage_.get() + index * config_.max_packet_size, slot.size);
}

}  // namespace chorus::media
