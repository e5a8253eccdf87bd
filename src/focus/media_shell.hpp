#pragma once
// The focus's media side on the io_context thread (`chorus focus`): the one UDP port (and the ICE-TCP port),
// one focus::RtcLink (io::WebRtcPeer) per participant, the tick and stats timers and the JSON output, around
// the sans-IO focus::MediaPlane (controller + router + negotiation). Requests for the Matrix side (joins,
// to-device sends) are posted to the Matrix thread, where focus::MatrixLink carries them out.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "focus/matrix_link.hpp"
#include "focus/media_plane.hpp"
#include "focus/rtc_link.hpp"
#include "focus/service_options.hpp"
#include "io/dtls_transport.hpp"
#include "io/tcp_server.hpp"
#include "io/udp_server.hpp"
#include "matrix/event_loop.hpp"

namespace chorus::focus {

class MediaShell final : public MediaPlaneHost, public io::UdpServer::Listener {
 public:
  // One tick drives the transport's timers (DTLS retransmission, usrsctp, ICE consent) and then the plane's
  // (keepalive, feedback, allocation): none needs finer than 50 ms (the transport's timeouts are 200 ms and
  // more), every tick is a wake-up of the media thread, and the tick's sends leave in one sendmmsg.
  static constexpr std::uint32_t kUdpTickMs = 50;

  MediaShell(boost::asio::io_context& io, const ServiceOptions& options, matrix::EventLoop& mloop,
             MatrixLink& link);

  // Binds the ports and starts the timers.
  Status start();
  std::uint16_t udpPort() const { return server_.localEndpoint().port(); }
  std::uint16_t tcpPort() const { return server_.tcpPort(); }

  // Media thread.
  void loggedIn(const std::string& user_id, const std::string& device_id, const std::string& curve25519);
  void feed(Input input) { plane_.feed(std::move(input)); }
  // Hangs up every participant (the hangups go to the Matrix thread), prints the summary, closes the ports.
  void shutdown();

  // ---- MediaPlaneHost ----
  std::unique_ptr<PeerLink> createLink(ParticipantId peer) override;
  void retireLink(std::unique_ptr<PeerLink> link) override;
  void post(std::function<void()> f) override;
  void joinRoom(const std::string& room_id) override;
  void sendToDevice(proto::SendToDevice s) override;
  void reportNotConnected(ParticipantId peer, const NotConnected& what) override;

  // ---- io::UdpServer::Listener ----
  void onPeerDead(io::UdpServer::Peer& p) override;
  void onTick(TimeMs now) override;

 private:
  void scheduleStats();
  // The stats line (the plane's counters, the ports', the Matrix side's).
  boost::json::object summary(const char* event) const;

  boost::asio::io_context& io_;
  const ServiceOptions& options_;
  matrix::EventLoop& mloop_;
  MatrixLink& link_;  // used on the Matrix thread only (through mloop_.post)
  SystemClock clock_;
  io::UdpServer server_;
  std::unique_ptr<io::TcpServer> tcp_server_;  // ICE-TCP; after server_ (it routes through it)
  boost::asio::steady_timer stats_timer_;
  io::DtlsIdentityPtr identity_;
  MediaPlane plane_;  // owns the links (after server_: they leave the port when destroyed)
  std::unordered_map<ParticipantId, RtcLink*> links_;  // the plane's links, by participant
  bool stopping_{false};
};

}  // namespace chorus::focus
