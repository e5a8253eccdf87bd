#include "io/tcp_server.hpp"

#include <utility>
#include <vector>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/write.hpp>

#include "base/log.hpp"
#include "io/tcp_framing.hpp"
#include "media/demux.hpp"

namespace chorus::io {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr const char* kTcpTag = "tcp";
constexpr int kSweepMs = 1000;

TransportAddress tcpAddress(const tcp::endpoint& ep) noexcept {
  TransportAddress a = toTransportAddress(asio::ip::udp::endpoint(ep.address(), ep.port()));
  a.tcp = true;
  return a;
}
}  // namespace

const char* toString(TcpClose c) noexcept {
  switch (c) {
    case TcpClose::TooManyConnections:
      return "too_many_connections";
    case TcpClose::TooManyFromAddress:
      return "too_many_from_address";
    case TcpClose::NotStun:
      return "not_stun";
    case TcpClose::NotValidated:
      return "not_validated";
    case TcpClose::FrameTooLarge:
      return "frame_too_large";
    case TcpClose::Idle:
      return "idle";
    case TcpClose::PeerClosed:
      return "peer_closed";
    case TcpClose::Replaced:
      return "replaced";
    case TcpClose::Count:
      break;
  }
  return "unknown";
}

struct TcpServer::Connection {
  Connection(tcp::socket s, std::size_t max_frame) : socket(std::move(s)), reader(max_frame) {}
  tcp::socket socket;
  TransportAddress remote;
  TcpFrameReader reader;
  std::vector<std::uint8_t> writing;  // the bytes of the async_write in flight
  std::vector<std::uint8_t> pending;  // frames queued behind it (bounded by max_queued_bytes)
  bool write_in_flight{false};
  bool seen_frame{false};
  bool validated{false};  // a STUN check routed it to a peer
  bool closed{false};
  TimeMs created_ms{0};
  TimeMs last_rx_ms{0};
};

TcpServer::TcpServer(asio::io_context& io, const Clock& clock, UdpServer& demux, TcpLimits limits)
    : clock_(clock), demux_(demux), limits_(limits), acceptor_(io), sweep_timer_(io) {}

TcpServer::~TcpServer() {
  stop();
}

Status TcpServer::bind(const tcp::endpoint& local) {
  boost::system::error_code ec;
  acceptor_.open(local.protocol(), ec);
  if (!ec && local.address().is_v6() && local.address().is_unspecified())
    acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(local, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.close(ec);
    return fail(Code::Unavailable, "tcp bind " + local.address().to_string() + ": " + ec.message());
  }
  stopped_ = false;
  demux_.setTcpSender(this);
  acceptNext();
  scheduleSweep();
  return Status();
}

void TcpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  sweep_timer_.cancel();
  acceptor_.close(ec);
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connections_.size());
  for (auto& [addr, c] : connections_) all.push_back(c);
  for (auto& c : all) close(c, TcpClose::PeerClosed);
  connections_.clear();
  demux_.setTcpSender(nullptr);
}

tcp::endpoint TcpServer::localEndpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

std::uint16_t TcpServer::tcpPort() const {
  return stopped_ ? 0 : localEndpoint().port();
}

void TcpServer::acceptNext() {
  if (stopped_) return;
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopped_) return;
    if (ec) {
      // Out of descriptors or similar: try again at the next sweep rather than spin.
      CHORUS_LOG(Debug, kTcpTag, "accept: " << ec.message());
      accept_paused_ = true;
      return;
    }
    boost::system::error_code ep_ec;
    const auto remote_ep = socket.remote_endpoint(ep_ec);
    if (ep_ec) {
      acceptNext();
      return;
    }
    if (connections_.size() >= limits_.max_connections) {
      closes_.count(TcpClose::TooManyConnections);
      socket.close(ep_ec);
      acceptNext();
      return;
    }
    const TransportAddress remote = tcpAddress(remote_ep);
    std::size_t same_ip = 0;
    for (const auto& [addr, conn] : connections_) {
      if (addr.family == remote.family && addr.bytes == remote.bytes && addr.port != remote.port) ++same_ip;
    }
    if (same_ip >= limits_.max_connections_per_ip) {
      closes_.count(TcpClose::TooManyFromAddress);
      socket.close(ep_ec);
      acceptNext();
      return;
    }
    ++accepted_;
    socket.set_option(tcp::no_delay(true), ep_ec);
    auto c = std::make_shared<Connection>(std::move(socket), limits_.max_frame);
    c->remote = remote;
    c->created_ms = c->last_rx_ms = clock_.nowMs();
    if (auto it = connections_.find(c->remote); it != connections_.end()) {
      auto old = it->second;
      close(old, TcpClose::Replaced);
    }
    connections_.emplace(c->remote, c);
    readNext(c);
    acceptNext();
  });
}

void TcpServer::readNext(const std::shared_ptr<Connection>& c) {
  if (c->closed) return;
  const auto room = c->reader.writable();
  c->socket.async_read_some(asio::buffer(room.data(), room.size()),
                            [this, c](boost::system::error_code ec, std::size_t n) {
                              if (c->closed) return;
                              if (ec || n == 0) {
                                close(c, TcpClose::PeerClosed);
                                return;
                              }
                              onBytes(c, n);
                            });
}

void TcpServer::onBytes(const std::shared_ptr<Connection>& c, std::size_t n) {
  const TimeMs now = clock_.nowMs();
  c->last_rx_ms = now;
  c->reader.commit(n);
  while (auto frame = c->reader.next()) {
    ++frames_rx_;
    if (!c->seen_frame) {
      c->seen_frame = true;
      // RFC 6544 §10: the first thing on an ICE-TCP connection is a connectivity check.
      if (media::classifyPacket(*frame) != media::PacketKind::Stun) {
        close(c, TcpClose::NotStun);
        return;
      }
    }
    demux_.dispatch(*frame, c->remote, now);
    if (c->closed) return;
    if (!c->validated && demux_.hasRoute(c->remote)) {
      c->validated = true;
      CHORUS_LOG(Debug, kTcpTag, "connection " << toString(c->remote) << " validated");
    }
  }
  if (c->reader.failed()) {
    close(c, TcpClose::FrameTooLarge);
    return;
  }
  readNext(c);
}

bool TcpServer::sendFramed(media::ByteSpan packet, const TransportAddress& to) {
  auto it = connections_.find(to);
  if (it == connections_.end() || it->second->closed || packet.size() > 65535) {
    ++send_drops_;
    return false;
  }
  auto& c = it->second;
  if (c->pending.size() + kTcpFrameHeader + packet.size() > limits_.max_queued_bytes) {
    ++send_drops_;
    return false;
  }
  std::uint8_t header[kTcpFrameHeader];
  writeTcpFrameHeader(packet.size(), header);
  c->pending.insert(c->pending.end(), header, header + kTcpFrameHeader);
  c->pending.insert(c->pending.end(), packet.begin(), packet.end());
  ++frames_tx_;
  if (!c->write_in_flight) writeNext(c);
  return true;
}

void TcpServer::writeNext(const std::shared_ptr<Connection>& c) {
  if (c->closed || c->write_in_flight || c->pending.empty()) return;
  std::swap(c->writing, c->pending);  // both keep their capacity: no allocation once warmed up
  c->pending.clear();
  c->write_in_flight = true;
  asio::async_write(c->socket, asio::buffer(c->writing),
                    [this, c](boost::system::error_code ec, std::size_t) {
                      c->write_in_flight = false;
                      if (c->closed) return;
                      if (ec) {
                        close(c, TcpClose::PeerClosed);
                        return;
                      }
                      c->writing.clear();
                      writeNext(c);
                    });
}

void TcpServer::close(const std::shared_ptr<Connection>& c, TcpClose why) {
  if (c->closed) return;
  c->closed = true;
  closes_.count(why);
  if (why != TcpClose::PeerClosed) {
    CHORUS_LOG(Debug, kTcpTag, "closing " << toString(c->remote) << ": " << toString(why));
  }
  boost::system::error_code ec;
  c->socket.close(ec);
  auto it = connections_.find(c->remote);
  if (it != connections_.end() && it->second == c) {
    connections_.erase(it);
    demux_.dropRoute(c->remote);
  }
}

void TcpServer::sweep(TimeMs now) {
  std::vector<std::pair<std::shared_ptr<Connection>, TcpClose>> doomed;
  for (auto& [addr, c] : connections_) {
    if (!c->validated && now - c->created_ms > limits_.validate_timeout_ms) {
      doomed.emplace_back(c, TcpClose::NotValidated);
    } else if (now - c->last_rx_ms > limits_.idle_timeout_ms) {
      doomed.emplace_back(c, TcpClose::Idle);
    }
  }
  for (auto& [c, why] : doomed) close(c, why);
  if (accept_paused_ && !stopped_) {
    accept_paused_ = false;
    acceptNext();
  }
}

void TcpServer::scheduleSweep() {
  if (stopped_) return;
  sweep_timer_.expires_after(std::chrono::milliseconds(kSweepMs));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    sweep(clock_.nowMs());
    scheduleSweep();
  });
}

}  // namespace chorus::io
