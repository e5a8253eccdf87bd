#include "bench/focus/forwarding_floor.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/net/loopback.hpp"
#include "media/bytes.hpp"
#include "media/srtp/evp_srtp_session.hpp"

namespace chorus::focus::bench {

using chorus::bench::Fd;
using chorus::bench::loopbackSocket;
using chorus::bench::threadCpuSeconds;

namespace {

constexpr int kSocketBuffer = 4 * 1024 * 1024;
constexpr std::size_t kMaxInFlight = 512;  // feeder stays at most this far ahead of the forwarder

std::vector<std::uint8_t> randomKeyingMaterial(media::SrtpProfile p) {
  std::vector<std::uint8_t> km(media::srtpKeyingMaterialSize(p));
  if (RAND_bytes(km.data(), static_cast<int>(km.size())) != 1) {
    for (std::size_t i = 0; i < km.size(); ++i) km[i] = static_cast<std::uint8_t>(i * 31 + 7);
  }
  return km;
}

}  // namespace

Result<FloorResult> measureForwardingFloor(const FloorOptions& o) {
  if (o.fanout < 1 || o.input_packets == 0)
    return fail(Code::InvalidArgument, "floor: fanout and packets must be > 0");
  const auto km_in = randomKeyingMaterial(o.profile);
  auto publisher = media::createEvpSrtpSession(o.profile, media::DtlsRole::Client, km_in);
  auto inbound = media::createEvpSrtpSession(o.profile, media::DtlsRole::Server, km_in);
  std::vector<media::SrtpSessionPtr> outs;
  for (int k = 0; k < o.fanout; ++k) {
    outs.push_back(
        media::createEvpSrtpSession(o.profile, media::DtlsRole::Server, randomKeyingMaterial(o.profile)));
    if (!outs.back()) return fail(Code::Internal, "floor: libsrtp session failed");
  }
  if (!publisher || !inbound) return fail(Code::Internal, "floor: libsrtp session failed");

  // The input: the load generator's packets, in its audio/video mix, protected by one publisher.
  const SyntheticTraffic& t = o.traffic;
  const std::uint64_t total_pps =
      static_cast<std::uint64_t>(std::max(0, t.audio_pps) + std::max(0, t.video_pps));
  if (total_pps == 0) return fail(Code::InvalidArgument, "floor: no traffic");
  std::vector<std::uint8_t> storage;
  std::vector<std::pair<std::size_t, std::size_t>> packets;  // offset, size
  storage.reserve(o.input_packets * (std::max(t.video_payload_bytes, t.audio_payload_bytes) + 64));
  packets.reserve(o.input_packets);
  std::uint64_t audio = 0, video = 0, frames = 0;
  const int per_frame = std::max(1, t.video_pps / std::max(1, t.video_fps));
  std::uint8_t buf[2048];
  for (std::size_t i = 0; i < o.input_packets; ++i) {
    const bool is_video =
        t.video_pps > 0 && (video + 1) * total_pps <= (i + 1) * static_cast<std::uint64_t>(t.video_pps);
    std::size_t n = 0;
    if (is_video) {
      const auto in_frame = static_cast<int>(video % static_cast<std::uint64_t>(per_frame));
      const bool start = in_frame == 0;
      if (start) ++frames;
      const bool key = start && t.keyframe_interval_frames > 0 &&
                       frames % static_cast<std::uint64_t>(t.keyframe_interval_frames) == 1;
      n = writeSyntheticRtp(buf, sizeof buf - 64, true, 0x2222, static_cast<std::uint16_t>(video),
                            static_cast<std::uint32_t>(frames * 3000), in_frame == per_frame - 1, start, key,
                            static_cast<std::uint16_t>(frames), "1", t.video_payload_bytes, 0, steadyNowNs());
      ++video;
    } else {
      n = writeSyntheticRtp(buf, sizeof buf - 64, false, 0x1111, static_cast<std::uint16_t>(audio),
                            static_cast<std::uint32_t>(audio * 960), false, false, false, 0, "0",
                            t.audio_payload_bytes, 0, steadyNowNs());
      ++audio;
    }
    if (n == 0) return fail(Code::InvalidArgument, "floor: payload too large");
    auto out = publisher->protectRtp(media::MutableByteSpan(buf, sizeof buf), n);
    if (!out) return fail(Code::Internal, "floor: protect failed");
    packets.emplace_back(storage.size(), *out);
    storage.insert(storage.end(), buf, buf + *out);
  }

  sockaddr_in rx_addr{}, tx_addr{}, sink_addr{}, feed_addr{};
  Fd rx{loopbackSocket(rx_addr, kSocketBuffer, 500)}, tx{loopbackSocket(tx_addr, kSocketBuffer, 500)},
      sink{loopbackSocket(sink_addr, kSocketBuffer, 500)},
      feed{loopbackSocket(feed_addr, kSocketBuffer, 500)};
  if (rx.fd < 0 || tx.fd < 0 || sink.fd < 0 || feed.fd < 0)
    return fail(Code::Internal, "floor: no UDP sockets");

  std::atomic<std::uint64_t> processed{0};
  std::atomic<bool> sink_stop{false};
  std::uint64_t sunk = 0;
  // The sink drains without blocking in recv (non-blocking batches, then a 1 ms nap): a reader asleep in recv
  // would be woken by every send, and the forwarding thread would pay for that wakeup. The load generator's
  // subscribers are busy epoll readers, so the focus mostly does not pay it either.
  std::thread sink_thread([&] {
    std::vector<std::array<std::uint8_t, 2048>> bufs(64);
    std::vector<iovec> iov(bufs.size());
    std::vector<mmsghdr> msgs(bufs.size());
    for (std::size_t i = 0; i < bufs.size(); ++i) {
      iov[i] = iovec{bufs[i].data(), bufs[i].size()};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!sink_stop.load(std::memory_order_relaxed)) {
      const int n =
          ::recvmmsg(sink.fd, msgs.data(), static_cast<unsigned>(msgs.size()), MSG_DONTWAIT, nullptr);
      if (n > 0) {
        sunk += static_cast<std::uint64_t>(n);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  });

  FloorResult r;
  // Protects one received packet `fanout` times, each into the next of `outs_buf` (kOutSlot bytes apart);
  // returns how many it wrote, their sizes in `sizes`.
  constexpr std::size_t kOutSlot = 2048;
  std::vector<std::uint16_t> seqs(static_cast<std::size_t>(o.fanout) * 2, 0);
  auto fanOut = [&](const std::uint8_t* in, std::size_t plain, std::uint8_t* out_buf, std::size_t* sizes) {
    const bool is_video = (in[1] & 0x7F) == kBenchVideoPt;
    std::size_t written = 0;
    for (int k = 0; k < o.fanout; ++k) {
      std::uint8_t* scratch = out_buf + written * kOutSlot;
      std::memcpy(scratch, in, plain);
      const std::size_t slot = static_cast<std::size_t>(k) * 2 + (is_video ? 1 : 0);
      media::store16(scratch + 2, seqs[slot]++);
      media::store32(scratch + 8, 0x10000u * static_cast<std::uint32_t>(k + 1) + (is_video ? 2 : 1));
      auto out =
          outs[static_cast<std::size_t>(k)]->protectRtp(media::MutableByteSpan(scratch, kOutSlot), plain);
      if (out) sizes[written++] = *out;
    }
    return written;
  };
  std::thread batched_forwarder;
  if (o.batched) {
    batched_forwarder = std::thread([&] {
      constexpr std::size_t kIn = 32;
      constexpr std::size_t kOut = 64;
      const std::size_t fanout = static_cast<std::size_t>(o.fanout);
      std::vector<std::uint8_t> in_buf(kIn * 2048);
      std::vector<std::uint8_t> out_buf((kOut + fanout) * kOutSlot);
      std::vector<std::size_t> sizes(kOut + fanout);
      std::array<iovec, kIn> in_iov{};
      std::array<mmsghdr, kIn> in_msgs{};
      std::vector<iovec> out_iov(kOut + fanout);
      std::vector<mmsghdr> out_msgs(kOut + fanout);
      for (std::size_t i = 0; i < kIn; ++i) in_iov[i] = iovec{in_buf.data() + i * 2048, 2048};
      double cpu0 = 0, cpu1 = 0;
      std::chrono::steady_clock::time_point wall0, wall1;
      bool started = false, done = false;
      std::size_t queued = 0;
      auto flush = [&] {
        for (std::size_t i = 0; i < queued; ++i) {
          out_iov[i] = iovec{out_buf.data() + i * kOutSlot, sizes[i]};
          out_msgs[i] = mmsghdr{};
          out_msgs[i].msg_hdr.msg_name = &sink_addr;
          out_msgs[i].msg_hdr.msg_namelen = sizeof sink_addr;
          out_msgs[i].msg_hdr.msg_iov = &out_iov[i];
          out_msgs[i].msg_hdr.msg_iovlen = 1;
        }
        std::size_t at = 0;
        while (at < queued) {
          const int n = ::sendmmsg(tx.fd, out_msgs.data() + at, static_cast<unsigned>(queued - at), 0);
          if (n <= 0) {
            ++at;  // dropped
            continue;
          }
          r.packets_out += static_cast<std::uint64_t>(n);
          at += static_cast<std::size_t>(n);
        }
        queued = 0;
      };
      while (!done) {
        for (std::size_t i = 0; i < kIn; ++i) {
          in_msgs[i] = mmsghdr{};
          in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
          in_msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // Blocks for the first datagram (SO_RCVTIMEO), then takes what else is waiting.
        const int n = ::recvmmsg(rx.fd, in_msgs.data(), kIn, MSG_WAITFORONE, nullptr);
        if (n <= 0) break;  // timeout: the feeder is gone
        if (!started) {
          started = true;
          cpu0 = threadCpuSeconds();
          wall0 = std::chrono::steady_clock::now();
        }
        for (int i = 0; i < n; ++i) {
          std::uint8_t* in = in_buf.data() + static_cast<std::size_t>(i) * 2048;
          const std::size_t len = in_msgs[static_cast<std::size_t>(i)].msg_len;
          if (len == 1) {  // end marker
            done = true;
            break;
          }
          ++r.packets_in;
          auto plain = inbound->unprotectRtp(media::MutableByteSpan(in, len));
          if (plain) {
            queued += fanOut(in, *plain, out_buf.data() + queued * kOutSlot, sizes.data() + queued);
            if (queued >= kOut) flush();
          }
        }
        flush();
        processed.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_release);
        cpu1 = threadCpuSeconds();
        wall1 = std::chrono::steady_clock::now();
      }
      r.cpu_s = cpu1 - cpu0;
      r.wall_s = started ? std::chrono::duration<double>(wall1 - wall0).count() : 0;
    });
  }
  std::thread forwarder([&] {
    if (o.batched) return;
    std::uint8_t in[2048];
    std::uint8_t scratch[2048];
    double cpu0 = 0, cpu1 = 0;
    std::chrono::steady_clock::time_point wall0, wall1;
    bool started = false;
    while (true) {
      const ssize_t n = ::recv(rx.fd, in, sizeof in, 0);
      if (n <= 0) break;  // timeout: the feeder is gone
      if (n == 1) break;  // end marker
      if (!started) {
        started = true;
        cpu0 = threadCpuSeconds();
        wall0 = std::chrono::steady_clock::now();
      }
      ++r.packets_in;
      auto plain = inbound->unprotectRtp(media::MutableByteSpan(in, static_cast<std::size_t>(n)));
      if (plain) {
        const bool is_video = (in[1] & 0x7F) == kBenchVideoPt;
        for (int k = 0; k < o.fanout; ++k) {
          std::memcpy(scratch, in, *plain);
          const std::size_t slot = static_cast<std::size_t>(k) * 2 + (is_video ? 1 : 0);
          media::store16(scratch + 2, seqs[slot]++);
          media::store32(scratch + 8, 0x10000u * static_cast<std::uint32_t>(k + 1) + (is_video ? 2 : 1));
          auto out = outs[static_cast<std::size_t>(k)]->protectRtp(
              media::MutableByteSpan(scratch, sizeof scratch), *plain);
          if (!out) continue;
          if (::sendto(tx.fd, scratch, *out, 0, reinterpret_cast<const sockaddr*>(&sink_addr),
                       sizeof sink_addr) > 0) {
            ++r.packets_out;
          }
        }
      }
      processed.fetch_add(1, std::memory_order_release);
      cpu1 = threadCpuSeconds();
      wall1 = std::chrono::steady_clock::now();
    }
    r.cpu_s = cpu1 - cpu0;
    r.wall_s = started ? std::chrono::duration<double>(wall1 - wall0).count() : 0;
  });

  std::uint64_t fed = 0;
  const auto pace_start = std::chrono::steady_clock::now();
  for (const auto& [off, size] : packets) {
    if (o.pace_pps > 0) {  // the i-th packet leaves at i / pace_pps
      std::this_thread::sleep_until(pace_start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                                     static_cast<double>(fed) * 1e9 / o.pace_pps)));
    }
    // A datagram lost in the kernel would leave the forwarder behind for good: give up waiting after 1 s.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (fed - processed.load(std::memory_order_acquire) >= kMaxInFlight &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    if (::sendto(feed.fd, storage.data() + off, size, 0, reinterpret_cast<const sockaddr*>(&rx_addr),
                 sizeof rx_addr) > 0) {
      ++fed;
    }
  }
  // Wait for the forwarder to catch up (a packet lost on the way would stall this: bounded wait).
  for (int i = 0; i < 2000 && processed.load() < fed; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::uint8_t end = 0;
  ::sendto(feed.fd, &end, 1, 0, reinterpret_cast<const sockaddr*>(&rx_addr), sizeof rx_addr);
  forwarder.join();
  if (batched_forwarder.joinable()) batched_forwarder.join();
  sink_stop = true;
  sink_thread.join();
  (void)sunk;
  if (r.packets_out == 0 || r.cpu_s <= 0) return fail(Code::Internal, "floor: nothing was forwarded");
  r.out_per_cpu_s = static_cast<double>(r.packets_out) / r.cpu_s;
  r.cpu_us_per_out = r.cpu_s * 1e6 / static_cast<double>(r.packets_out);
  return r;
}

}  // namespace chorus::focus::bench
