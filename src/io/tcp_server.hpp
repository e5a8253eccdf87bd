#pragma once
// ICE-TCP for the focus (RFC 6544): one listening TCP port whose connections carry the same packets as the
// UDP port, each framed by RFC 4571 (io/tcp_framing.hpp). The focus's TCP candidates are passive host
// candidates
// ("tcptype passive"): participants connect, send STUN Binding requests over the connection, and then DTLS,
// SRTP and SCTP run over it unchanged. Every frame goes into the UdpServer's demux (UdpServer::dispatch) with
// the connection's remote address marked `tcp`, so a STUN check routes the connection to the peer whose ufrag
// it names, and the peer's answers and media come back out through send() when its selected address is that
// connection.
//
// Bounds, per server: at most `max_connections` connections, `max_connections_per_ip` from one IP; per
// connection one read buffer of max_frame + 2 bytes and at most `max_queued_bytes` of unsent frames (a frame
// that does not fit is dropped whole, like a full UDP socket buffer drops a datagram). A connection is closed
// when its first frame is not a STUN message, when no STUN check routed it to a peer within
// `validate_timeout_ms`, on a frame over the limit, and after `idle_timeout_ms` without a byte from the
// participant. Single-threaded (the io_context thread).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "io/transport_address.hpp"
#include "io/udp_server.hpp"
#include "media/bytes.hpp"
#include "media/drop_counters.hpp"

namespace chorus::io {

struct TcpLimits {
  std::size_t max_connections{1024};
  // From one remote IP address (many participants may share one NAT address; one host cannot take every
  // slot).
  std::size_t max_connections_per_ip{64};
  std::size_t max_frame{8192};
  std::size_t max_queued_bytes{256 * 1024};
  TimeMs validate_timeout_ms{5'000};
  TimeMs idle_timeout_ms{30'000};  // consent checks (RFC 7675) come every ~5 s on a live connection
};

enum class TcpClose : std::uint8_t {
  TooManyConnections,  // refused at accept
  TooManyFromAddress,  // refused at accept: max_connections_per_ip from that IP address
  NotStun,             // the first frame was not STUN
  NotValidated,        // no STUN check routed it to a peer in time
  FrameTooLarge,
  Idle,
  PeerClosed,  // the participant closed it, or a socket error
  Replaced,    // a new connection from the same remote address
  Count
};
const char* toString(TcpClose c) noexcept;

class TcpServer final : public UdpServer::TcpSender {
 public:
  // `demux` is borrowed and outlives the server. Call demux.setTcpSender(&server) to route answers and media
  // to the server (bind() does it).
  TcpServer(boost::asio::io_context& io, const Clock& clock, UdpServer& demux, TcpLimits limits = {});
  ~TcpServer() override;

  // Listens (port 0 = ephemeral) and starts accepting. An unspecified IPv6 address ("::") listens dual-stack.
  Status bind(const boost::asio::ip::tcp::endpoint& local);
  void stop();
  boost::asio::ip::tcp::endpoint localEndpoint() const;

  // UdpServer::TcpSender: frames `packet` onto the connection `to` names (to.tcp). False when there is no
  // such connection, the frame is too large or the connection's send queue is full.
  bool sendFramed(media::ByteSpan packet, const TransportAddress& to) override;
  std::uint16_t tcpPort() const override;

  std::size_t connectionCount() const noexcept { return connections_.size(); }
  std::uint64_t accepted() const noexcept { return accepted_; }
  std::uint64_t framesReceived() const noexcept { return frames_rx_; }
  std::uint64_t framesSent() const noexcept { return frames_tx_; }
  std::uint64_t sendDrops() const noexcept { return send_drops_; }
  const media::DropCounters<TcpClose>& closes() const noexcept { return closes_; }

  // The periodic check of the timeouts (a 1 s timer calls it; tests may call it with a fake clock).
  void sweep(TimeMs now);

 private:
  struct Connection;
  void acceptNext();
  void readNext(const std::shared_ptr<Connection>& c);
  void writeNext(const std::shared_ptr<Connection>& c);
  void onBytes(const std::shared_ptr<Connection>& c, std::size_t n);
  void close(const std::shared_ptr<Connection>& c, TcpClose why);
  void scheduleSweep();

  const Clock& clock_;  // Borrowed.
  UdpServer& demux_;    // Borrowed.
  TcpLimits limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer sweep_timer_;
  std::unordered_map<TransportAddress, std::shared_ptr<Connection>, TransportAddressHash> connections_;
  media::DropCounters<TcpClose> closes_;
  std::uint64_t accepted_{0};
  std::uint64_t frames_rx_{0};
  std::uint64_t frames_tx_{0};
  std::uint64_t send_drops_{0};
  bool stopped_{true};
  bool accept_paused_{false};  // accept failed (e.g. out of descriptors): retried at the next sweep
};

}  // namespace chorus::io
