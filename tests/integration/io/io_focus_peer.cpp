// A one-participant "focus" for the end-to-end tests: UdpServer on 127.0.0.1 (ephemeral port) + WebRtcPeer,
// all on one Boost.Asio io_context thread. The SDP exchange is a line protocol on stdin/stdout (SDP lines
// joined with '|'):
//   in:  offer <sdp>            out: answer <sdp>    (or "error <text>")
//   in:  quit                   out: final stats, then "bye"; exit status 0 when nothing went wrong
// Events on stdout: "connected <srtp profile>", "dc-open <sid> <label>", "dc-message <sid> <text>",
// "stats audio=<n> video=<n> rtcp=<n> ...", "failed <reason>".
// When the participant opens a data channel, the focus greets on it; every text message is echoed back as
// "echo: <text>".
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <istream>
#include <memory>
#include <string>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "io/dtls_transport.hpp"
#include "io/udp_server.hpp"
#include "io/webrtc_peer.hpp"

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

class FocusApp : public WebRtcPeer::Listener, public UdpServer::Listener {
 public:
  FocusApp(asio::io_context& io, std::string bind_ip)
      : io_(io), server_(io, clock_), input_(io, ::dup(STDIN_FILENO)), stats_timer_(io), bind_ip_(bind_ip) {}

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
  }
  void onPeerDataChannelMessage(WebRtcPeer& p, std::uint16_t sid, std::string_view text,
                                bool binary) override {
    emit("dc-message " + std::to_string(sid) + " " + (binary ? std::string("<binary>") : std::string(text)));
    if (!binary) p.sendText(sid, "echo: " + std::string(text));
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
    if (!peer_) return s;
    s += " audio=" + std::to_string(peer_->rtpPackets("audio")) +
         " video=" + std::to_string(peer_->rtpPackets("video")) +
         " rtcp=" + std::to_string(peer_->rtcpPackets()) + " dtls=" + toString(peer_->dtlsState()) +
         " ice_answered=" + std::to_string(peer_->ice().requestsAnswered()) +
         " peer_drops=" + std::to_string(peer_->drops().total());
    if (peer_->srtpProfile()) s += " srtp=" + std::string(media::srtpProfileName(*peer_->srtpProfile()));
    if (peer_->sctp()) {
      s += " dc_rx=" + std::to_string(peer_->sctp()->messagesReceived()) +
           " dc_tx=" + std::to_string(peer_->sctp()->messagesSent());
    }
    return s;
  }

  void scheduleStats() {
    stats_timer_.expires_after(std::chrono::milliseconds(500));
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      emit(stats());
      scheduleStats();
    });
  }

  void finish() {
    emit(stats());
    if (peer_) {
      for (const auto& s : peer_->ssrcStats()) {
        emit("ssrc " + std::to_string(s.ssrc) + " mid=" + s.mid + " kind=" + s.kind +
             " pt=" + std::to_string(s.payload_type) + " packets=" + std::to_string(s.packets) +
             " bytes=" + std::to_string(s.bytes));
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
    stats_timer_.cancel();
    peer_.reset();
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
  DtlsIdentityPtr identity_;
  std::unique_ptr<WebRtcPeer> peer_;
  int errors_{0};
  TimeMs answered_ms_{0};
};

}  // namespace

int main(int argc, char** argv) {
  log::Level level = log::Level::Info;
  if (const char* env = std::getenv("CHORUS_LOG")) log::parseLevel(env, level);
  log::setLevel(level);
  asio::io_context io;
  FocusApp app(io, argc > 1 ? argv[1] : "127.0.0.1");
  if (!app.start()) return 2;
  io.run();
  return app.exitCode();
}
