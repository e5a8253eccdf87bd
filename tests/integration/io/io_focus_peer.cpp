// A one-participant "focus" for the end-to-end tests: UdpServer on 127.0.0.1 (ephemeral port) + WebRtcPeer,
// all on one Boost.Asio io_context thread. The SDP exchange is a line protocol on stdin/stdout (SDP lines
// joined with '|'):
//   in:  offer <sdp>            out: answer <sdp>    (or "error <text>")
//   in:  quit                   out: final stats, then "bye"; exit status 0 when nothing went wrong
// Events on stdout: "connected <srtp profile>", "dc-open <sid> <label>", "dc-message <sid> <text>",
// "stats audio=<n> video=<n> rtcp=<n> ...", "failed <reason>", "reoffer <sdp>", "reanswer <sdp>",
// "renegotiated", "pli <n>", "participant-reoffer published=<n>", "reanswer-ours <sdp>".
// When the participant opens a data channel, the focus greets on it; every text message is echoed back as
// "echo: <text>". Echo mode (the browser test): once the focus has decrypted 50 video packets it sends a
// renegotiation offer over the data channel ("sdp-offer\n<sdp>") with one audio and one video send track; the
// browser answers the same way
// ("sdp-answer\n<sdp>"). From then on every decrypted RTP packet of the participant is sent back to it on the
// send track of its kind (SSRC and payload type rewritten, header extensions stripped, re-protected), and a
// PLI/FIR the participant sends for the echoed video is relayed as a PLI to its own video SSRC. A re-offer
// of the participant ("sdp-offer\n<sdp>" from the page) is answered over the data channel.
// Usage: io_focus_peer [bind-ip [tcp]]; with "tcp" it also serves ICE-TCP (io/tcp_server.hpp) on an ephemeral
// TCP port of the same address ("listening-tcp <ip> <port>"), and the answer has passive TCP candidates.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <istream>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "io/dtls_transport.hpp"
#include "io/tcp_server.hpp"
#include "io/udp_server.hpp"
#include "io/webrtc_peer.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace asio = boost::asio;
using namespace chorus;
using namespace chorus::io;

namespace {

std::string unflatten(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string flatten(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') continue;
    out += c == '\n' ? '|' : c;
  }
  return out;
}

void emit(const std::string& line) {
  std::cout << line << std::endl;  // flushed: the driver reads line by line
}

constexpr std::uint32_t kEchoAudioSsrc = 0x0EC0A001;
constexpr std::uint32_t kEchoVideoSsrc = 0x0EC0B002;
constexpr std::uint32_t kFocusRtcpSsrc = 0x0F0C0501;  // sender SSRC of the RTCP the focus originates
constexpr std::string_view kSdpOfferPrefix = "sdp-offer\n";
constexpr std::string_view kSdpAnswerPrefix = "sdp-answer\n";

class FocusApp : public WebRtcPeer::Listener, public UdpServer::Listener {
 public:
  FocusApp(asio::io_context& io, std::string bind_ip, bool tcp)
      : io_(io),
        server_(io, clock_),
        input_(io, ::dup(STDIN_FILENO)),
        stats_timer_(io),
        bind_ip_(bind_ip),
        with_tcp_(tcp) {}

  bool start() {
    identity_ = DtlsIdentity::generate();
    if (!identity_) return false;
    auto st = server_.bind(asio::ip::udp::endpoint(asio::ip::make_address(bind_ip_), 0));
    if (!st) {
      emit("error " + st.error().message);
      return false;
    }
    server_.setListener(this);
    emit("listening " + server_.localEndpoint().address().to_string() + " " +
         std::to_string(server_.localEndpoint().port()));
    if (with_tcp_) {
      tcp_ = std::make_unique<TcpServer>(io_, clock_, server_);
      auto tst = tcp_->bind(asio::ip::tcp::endpoint(asio::ip::make_address(bind_ip_), 0));
      if (!tst) {
        emit("error " + tst.error().message);
        return false;
      }
      emit("listening-tcp " + tcp_->localEndpoint().address().to_string() + " " +
           std::to_string(tcp_->localEndpoint().port()));
    }
    readLine();
    scheduleStats();
    return true;
  }

  int exitCode() const { return errors_ == 0 ? 0 : 1; }

  // WebRtcPeer::Listener
  void onPeerConnected(WebRtcPeer& p) override {
    emit(std::string("connected ") + std::string(media::srtpProfileName(*p.srtpProfile())) + " " +
         std::to_string(clock_.nowMs() - answered_ms_) + "ms-after-answer");
  }
  void onPeerFailed(WebRtcPeer&, std::string_view reason) override {
    emit("failed " + std::string(reason));
    ++errors_;
  }
  void onPeerDataChannelOpen(WebRtcPeer& p, std::uint16_t sid, std::string_view label) override {
    emit("dc-open " + std::to_string(sid) + " " + std::string(label) + " " +
         std::to_string(clock_.nowMs() - answered_ms_) + "ms-after-answer");
    if (!p.sendText(sid, "hello from focus")) ++errors_;
    if (!dc_sid_) dc_sid_ = sid;
    maybeOffer(p);
  }
  // Echo mode: offer the participant one audio and one video track of ours, once its video has been flowing
  // for a while, so the echo starts in the middle of a group of pictures and the page's decoder must ask for
  // a key frame (PLI), which the focus relays to the publisher.
  void maybeOffer(WebRtcPeer& p) {
    if (offered_ || !dc_sid_ || p.rtpPackets("video") < 50) return;
    offered_ = true;
    for (const auto& t : p.publishedTracks()) {
      auto& mid = echo_mids_[t.kind == "audio" ? 0 : 1];
      if (mid.empty()) mid = t.mid;
    }
    const std::uint16_t sid = *dc_sid_;
    const std::vector<SendTrack> tracks = {{"audio", kEchoAudioSsrc, "echo", "echo-audio"},
                                           {"video", kEchoVideoSsrc, "echo", "echo-video"}};
    auto offer = p.createOffer(tracks);
    if (!offer) {
      emit("error createOffer: " + offer.error().message);
      ++errors_;
      return;
    }
    emit("reoffer " + flatten(*offer));
    if (!p.sendText(sid, std::string(kSdpOfferPrefix) + *offer)) {
      emit("error cannot send the offer");
      ++errors_;
    }
  }
  void onPeerDataChannelMessage(WebRtcPeer& p, std::uint16_t sid, std::string_view text,
                                bool binary) override {
    if (!binary && text.substr(0, kSdpOfferPrefix.size()) == kSdpOfferPrefix) {
      // The participant's re-offer (it added a track). We are polite: drop a pending offer of ours.
      if (p.hasPendingOffer()) p.rollback();
      auto answer = p.acceptOffer(text.substr(kSdpOfferPrefix.size()));
      if (!answer) {
        emit("error participant re-offer: " + answer.error().message);
        ++errors_;
        return;
      }
      emit("participant-reoffer published=" + std::to_string(p.publishedTracks().size()));
      emit("reanswer-ours " + flatten(*answer));
      if (!p.sendText(sid, std::string(kSdpAnswerPrefix) + *answer)) ++errors_;
      return;
    }
    if (!binary && text.substr(0, kSdpAnswerPrefix.size()) == kSdpAnswerPrefix) {
      const std::string_view sdp = text.substr(kSdpAnswerPrefix.size());
      emit("reanswer " + flatten(std::string(sdp)));
      auto applied = p.applyAnswer(sdp);
      if (!applied) {
        emit("error applyAnswer: " + applied.error().message);
        ++errors_;
        p.rollback();
        return;
      }
      echo_ = true;
      emit("renegotiated " + std::to_string(clock_.nowMs() - answered_ms_) + "ms-after-answer");
      return;
    }
    emit("dc-message " + std::to_string(sid) + " " + (binary ? std::string("<binary>") : std::string(text)));
    if (!binary) p.sendText(sid, "echo: " + std::string(text));
  }
  void onPeerRtp(WebRtcPeer& p, const RtpInfo& info, const media::RtpPacketView& rtp, TimeMs now) override {
    if (!offered_) maybeOffer(p);
    // Only the first published audio and video are echoed (a track added later by a re-offer is not).
    if (info.mid.empty() || (info.mid != echo_mids_[0] && info.mid != echo_mids_[1])) return;
    if (info.kind == "video") publisher_video_ssrc_ = rtp.ssrc();
    if (!echo_ || (info.kind != "audio" && info.kind != "video")) return;
    const media::ByteSpan packet = rtp.data();
    // Strip the header extensions: fixed header + CSRCs, then payload and padding.
    const std::size_t fixed = media::kRtpHeaderSize + 4u * rtp.csrcCount();
    const std::size_t rest = packet.size() - rtp.headerSize();
    const std::size_t length = fixed + rest;
    if (length + kSrtpMaxTrailer > echo_buffer_.size()) return;
    std::memcpy(echo_buffer_.data(), packet.data(), fixed);
    std::memcpy(echo_buffer_.data() + fixed, packet.data() + rtp.headerSize(), rest);
    echo_buffer_[0] = static_cast<std::uint8_t>(echo_buffer_[0] & ~0x10);  // X = 0
    auto out = media::MutableRtpPacketView::parse(media::MutableByteSpan(echo_buffer_.data(), length));
    if (!out) return;
    const bool audio = info.kind == "audio";
    out->setSsrc(audio ? kEchoAudioSsrc : kEchoVideoSsrc);
    out->setPayloadType(p.sendPayloadType(info.kind));
    if (p.sendRtp(echo_buffer_, length, now)) ++(audio ? echoed_audio_ : echoed_video_);
  }
  void onPeerRtcp(WebRtcPeer& p, media::MutableByteSpan packet, TimeMs now) override {
    media::RtcpCompoundReader reader(packet);
    bool wants_keyframe = false;
    while (auto pkt = reader.next()) {
      if (pkt->type != media::kRtcpPsfb) continue;
      if (pkt->count == media::kPsfbPli) {
        if (auto pli = media::RtcpPli::parse(*pkt)) wants_keyframe |= pli->media_ssrc == kEchoVideoSsrc;
      } else if (pkt->count == media::kPsfbFir) {
        if (auto fir = media::RtcpFir::parse(*pkt)) {
          for (std::size_t i = 0; i < fir->entryCount(); ++i)
            wants_keyframe |= fir->entry(i).ssrc == kEchoVideoSsrc;
        }
      }
    }
    if (!wants_keyframe) return;
    ++pli_in_;
    if (publisher_video_ssrc_ == 0) return;
    // RR (no blocks) + PLI for the publisher's video SSRC.
    std::array<std::uint8_t, 64> rtcp{};
    const auto rr = media::buildRtcpReceiverReport(rtcp, kFocusRtcpSsrc, {});
    if (!rr) return;
    const auto pli =
        media::buildRtcpPli(media::MutableByteSpan(rtcp).subspan(*rr), kFocusRtcpSsrc, publisher_video_ssrc_);
    if (!pli) return;
    if (p.sendRtcp(rtcp, *rr + *pli, now)) {
      ++pli_relayed_;
      emit("pli " + std::to_string(pli_relayed_));
    }
  }
  void onPeerDataChannelClosed(WebRtcPeer&, std::uint16_t sid) override {
    emit("dc-closed " + std::to_string(sid));
  }
  // UdpServer::Listener
  void onPeerDead(UdpServer::Peer&) override { emit("dead"); }

 private:
  void readLine() {
    asio::async_read_until(input_, buf_, '\n', [this](boost::system::error_code ec, std::size_t) {
      if (ec) {
        finish();
        return;
      }
      std::istream is(&buf_);
      std::string line;
      std::getline(is, line);
      if (line.rfind("offer ", 0) == 0) {
        peer_ = std::make_unique<WebRtcPeer>(*identity_, server_, *this, clock_.nowMs());
        auto answer = peer_->acceptOffer(unflatten(line.substr(6)));
        if (!answer) {
          emit("error " + answer.error().message);
          ++errors_;
        } else {
          server_.addPeer(*peer_);
          answered_ms_ = clock_.nowMs();
          emit("answer " + flatten(*answer));
        }
      } else if (line == "quit") {
        finish();
        return;
      }
      readLine();
    });
  }

  std::string stats() const {
    std::string s = "stats udp_rx=" + std::to_string(server_.datagramsReceived()) +
                    " udp_tx=" + std::to_string(server_.datagramsSent()) +
                    " udp_drops=" + std::to_string(server_.drops().total());
    if (tcp_) {
      s += " tcp_conns=" + std::to_string(tcp_->connectionCount()) +
           " tcp_rx=" + std::to_string(tcp_->framesReceived()) +
           " tcp_tx=" + std::to_string(tcp_->framesSent()) +
           " tcp_send_drops=" + std::to_string(tcp_->sendDrops());
    }
    if (!peer_) return s;
    s += " audio=" + std::to_string(peer_->rtpPackets("audio")) +
         " video=" + std::to_string(peer_->rtpPackets("video")) +
         " rtcp=" + std::to_string(peer_->rtcpPackets()) + " dtls=" + toString(peer_->dtlsState()) +
         " ice_answered=" + std::to_string(peer_->ice().requestsAnswered()) +
         " peer_drops=" + std::to_string(peer_->drops().total());
    if (const auto sel = peer_->ice().selectedAddress()) s += " selected=" + toString(*sel);
    if (peer_->srtpProfile()) s += " srtp=" + std::string(media::srtpProfileName(*peer_->srtpProfile()));
    s += " rtp_sent=" + std::to_string(peer_->rtpPacketsSent()) +
         " rtcp_sent=" + std::to_string(peer_->rtcpPacketsSent()) +
         " send_drops=" + std::to_string(peer_->sendDrops().total()) +
         " echo_audio=" + std::to_string(echoed_audio_) + " echo_video=" + std::to_string(echoed_video_) +
         " pli_in=" + std::to_string(pli_in_) + " pli_relayed=" + std::to_string(pli_relayed_);
    if (peer_->sctp()) {
      s += " dc_rx=" + std::to_string(peer_->sctp()->messagesReceived()) +
           " dc_tx=" + std::to_string(peer_->sctp()->messagesSent());
    }
    return s;
  }

  void scheduleStats() {
    stats_timer_.expires_after(std::chrono::milliseconds(500));
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      // finished_: cancel() does not stop a handler whose timer already expired; it must not re-arm.
      if (ec || finished_) return;
      emit(stats());
      scheduleStats();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    emit(stats());
    if (peer_) {
      for (const auto& s : peer_->ssrcStats()) {
        emit("ssrc " + std::to_string(s.ssrc) + " mid=" + s.mid + " kind=" + s.kind +
             " pt=" + std::to_string(s.payload_type) + " packets=" + std::to_string(s.packets) +
             " bytes=" + std::to_string(s.bytes));
      }
      for (const auto& t : peer_->publishedTracks()) {
        std::string ssrcs;
        for (auto x : t.ssrcs) ssrcs += (ssrcs.empty() ? "" : ",") + std::to_string(x);
        emit("published mid=" + t.mid + " kind=" + t.kind + " stream=" + t.stream_id +
             " track=" + t.track_id + " pt=" + std::to_string(t.payload_type) + " ssrcs=" + ssrcs);
      }
      for (std::size_t i = 0; i < static_cast<std::size_t>(PeerSendDrop::Count); ++i) {
        const auto n = peer_->sendDrops().get(static_cast<PeerSendDrop>(i));
        if (n)
          emit(std::string("send-drop ") + toString(static_cast<PeerSendDrop>(i)) + "=" + std::to_string(n));
      }
      for (std::size_t i = 0; i < static_cast<std::size_t>(PeerDrop::Count); ++i) {
        const auto n = peer_->drops().get(static_cast<PeerDrop>(i));
        if (n) emit(std::string("peer-drop ") + toString(static_cast<PeerDrop>(i)) + "=" + std::to_string(n));
      }
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(UdpDrop::Count); ++i) {
      const auto n = server_.drops().get(static_cast<UdpDrop>(i));
      if (n) emit(std::string("udp-drop ") + toString(static_cast<UdpDrop>(i)) + "=" + std::to_string(n));
    }
    if (tcp_) {
      for (std::size_t i = 0; i < static_cast<std::size_t>(TcpClose::Count); ++i) {
        const auto n = tcp_->closes().get(static_cast<TcpClose>(i));
        if (n) emit(std::string("tcp-close ") + toString(static_cast<TcpClose>(i)) + "=" + std::to_string(n));
      }
    }
    stats_timer_.cancel();
    peer_.reset();
    if (tcp_) tcp_->stop();
    server_.stop();
    boost::system::error_code ec;
    input_.close(ec);
    emit("bye");
  }

  asio::io_context& io_;
  SystemClock clock_;
  UdpServer server_;
  asio::posix::stream_descriptor input_;
  asio::streambuf buf_;
  asio::steady_timer stats_timer_;
  std::string bind_ip_;
  bool with_tcp_{false};
  std::unique_ptr<TcpServer> tcp_;
  DtlsIdentityPtr identity_;
  std::unique_ptr<WebRtcPeer> peer_;
  int errors_{0};
  TimeMs answered_ms_{0};
  std::optional<std::uint16_t> dc_sid_;
  bool offered_{false};
  bool finished_{false};
  std::array<std::string, 2> echo_mids_;  // the participant's audio and video mids we echo
  bool echo_{false};                      // the renegotiation completed: echo RTP back
  std::uint32_t publisher_video_ssrc_{0};
  std::array<std::uint8_t, 2048 + kSrtpMaxTrailer> echo_buffer_{};  // one packet; no allocation per packet
  std::uint64_t echoed_audio_{0};
  std::uint64_t echoed_video_{0};
  std::uint64_t pli_in_{0};
  std::uint64_t pli_relayed_{0};
};

}  // namespace

int main(int argc, char** argv) {
  log::Level level = log::Level::Info;
  if (const char* env = std::getenv("CHORUS_LOG")) log::parseLevel(env, level);
  log::setLevel(level);
  asio::io_context io;
  FocusApp app(io, argc > 1 ? argv[1] : "127.0.0.1", argc > 2 && std::string(argv[2]) == "tcp");
  if (!app.start()) return 2;
  io.run();
  return app.exitCode();
}
