#include "io/udp_server.hpp"

#include <boost/asio/ip/v6_only.hpp>

#include <vector>

#include "base/log.hpp"
#include "io/local_addresses.hpp"
#include "io/sctp_association.hpp"

namespace chorus::io {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {
constexpr const char* kTag = "udp";
}

const char* toString(UdpDrop d) noexcept {
  switch (d) {
    case UdpDrop::Unknown:
      return "unknown";
    case UdpDrop::BadStun:
      return "bad_stun";
    case UdpDrop::StunNoUsername:
      return "stun_no_username";
    case UdpDrop::StunUnknownUfrag:
      return "stun_unknown_ufrag";
    case UdpDrop::StunRejected:
      return "stun_rejected";
    case UdpDrop::UnknownAddress:
      return "unknown_address";
    case UdpDrop::AddressTableFull:
      return "address_table_full";
    case UdpDrop::SendFailed:
      return "send_failed";
    case UdpDrop::Count:
      break;
  }
  return "unknown";
}

TransportAddress toTransportAddress(const udp::endpoint& ep) noexcept {
  const auto a = ep.address();
  if (a.is_v4()) return TransportAddress::v4(a.to_v4().to_bytes(), ep.port());
  if (a.to_v6().is_v4_mapped()) {
    return TransportAddress::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes(),
                                ep.port());
  }
  return TransportAddress::v6(a.to_v6().to_bytes(), ep.port());
}

udp::endpoint toEndpoint(const TransportAddress& a) {
  if (a.family == TransportAddress::Family::V4) {
    return udp::endpoint(asio::ip::address_v4({a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]}), a.port);
  }
  return udp::endpoint(asio::ip::address_v6(a.bytes), a.port);
}

UdpServer::UdpServer(asio::io_context& io, const Clock& clock) : clock_(clock), socket_(io), timer_(io) {}

UdpServer::~UdpServer() {
  stop();
}

Status UdpServer::bind(const udp::endpoint& local, std::uint32_t tick_ms) {
  boost::system::error_code ec;
  socket_.open(local.protocol(), ec);
  v6_socket_ = local.address().is_v6();
  if (!ec && v6_socket_ && local.address().is_unspecified()) socket_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) socket_.bind(local, ec);
  if (ec) return fail(Code::Unavailable, "udp bind " + local.address().to_string() + ": " + ec.message());
  // Larger kernel buffers: bursts of video from many participants arrive between loop iterations.
  socket_.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024), ec);
  socket_.set_option(asio::socket_base::send_buffer_size(4 * 1024 * 1024), ec);
  // Sends never block the loop: a full socket buffer drops the datagram (counted as SendFailed).
  socket_.non_blocking(true, ec);
  tick_ms_ = tick_ms == 0 ? 10 : tick_ms;
  stopped_ = false;
  last_tick_ = clock_.nowMs();
  receiveNext();
  scheduleTick();
  return Status();
}

void UdpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  timer_.cancel();
  socket_.close(ec);
}

udp::endpoint UdpServer::localEndpoint() const {
  boost::system::error_code ec;
  return socket_.local_endpoint(ec);
}

std::vector<std::string> UdpServer::advertisedAddresses() const {
  return advertisedHostAddresses(announced_, localEndpoint().address().to_string(), v6_socket_);
}

bool UdpServer::addPeer(Peer& peer) {
  if (by_ufrag_.size() >= kUdpMaxPeers) return false;
  return by_ufrag_.emplace(std::string(peer.iceUfrag()), &peer).second;
}

void UdpServer::removePeer(Peer& peer) {
  auto it = by_ufrag_.find(peer.iceUfrag());
  if (it != by_ufrag_.end() && it->second == &peer) by_ufrag_.erase(it);
  std::erase_if(by_address_, [&peer](const auto& kv) { return kv.second == &peer; });
}

bool UdpServer::send(media::ByteSpan datagram, const TransportAddress& to) {
  if (stopped_) return false;
  if (to.tcp) {  // ICE-TCP: counted by the TcpServer (framesSent)
    if (tcp_ == nullptr || !tcp_->sendFramed(datagram, to)) {
      drops_.count(UdpDrop::SendFailed);
      return false;
    }
    return true;
  }
  boost::system::error_code ec;
  auto dest = toEndpoint(to);
  if (v6_socket_ && dest.address().is_v4()) {
    dest = udp::endpoint(asio::ip::make_address_v6(asio::ip::v4_mapped, dest.address().to_v4()), dest.port());
  }
  socket_.send_to(asio::buffer(datagram.data(), datagram.size()), dest, 0, ec);
  if (ec) {
    drops_.count(UdpDrop::SendFailed);
    return false;
  }
  ++sent_;
  return true;
}

void UdpServer::receiveNext() {
  if (stopped_) return;
  socket_.async_receive_from(
      asio::buffer(rx_), rx_from_, [this](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || stopped_) return;
        if (!ec) {
          ++received_;
          dispatch(media::MutableByteSpan(rx_.data(), n), toTransportAddress(rx_from_), clock_.nowMs());
        }
        receiveNext();
      });
}

void UdpServer::dispatch(media::MutableByteSpan datagram, const TransportAddress& from, TimeMs now) {
  const auto kind = media::classifyPacket(datagram);
  if (kind == media::PacketKind::Unknown) {
    drops_.count(UdpDrop::Unknown);
    return;
  }
  if (kind == media::PacketKind::Stun) {
    const auto msg = media::parseStun(datagram);
    if (!msg) {
      drops_.count(UdpDrop::BadStun);
      return;
    }
    if (!msg->isBindingRequest() || !msg->username) {
      drops_.count(UdpDrop::StunNoUsername);
      return;
    }
    const std::string_view user = *msg->username;
    const auto colon = user.find(':');
    if (colon == std::string_view::npos) {
      drops_.count(UdpDrop::StunUnknownUfrag);
      return;
    }
    auto it = by_ufrag_.find(user.substr(0, colon));
    if (it == by_ufrag_.end()) {
      drops_.count(UdpDrop::StunUnknownUfrag);
      return;
    }
    Peer* peer = it->second;
    if (!peer->onStun(*msg, from, now)) {
      drops_.count(UdpDrop::StunRejected);
      return;
    }
    auto [slot, inserted] = by_address_.try_emplace(from, peer);
    if (!inserted) {
      slot->second = peer;  // an address moves to the peer that validated it last
      return;
    }
    // A new route: forget this peer's routes that fell out of its (bounded) validated list.
    std::erase_if(by_address_,
                  [peer](const auto& kv) { return kv.second == peer && !peer->ownsAddress(kv.first); });
    if (by_address_.size() > kUdpMaxAddresses) {
      by_address_.erase(from);
      drops_.count(UdpDrop::AddressTableFull);
    }
    return;
  }
  auto it = by_address_.find(from);
  if (it == by_address_.end()) {
    drops_.count(UdpDrop::UnknownAddress);
    return;
  }
  it->second->onDatagram(kind, datagram, from, now);
}

void UdpServer::scheduleTick() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(tick_ms_));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    tick();
    scheduleTick();
  });
}

void UdpServer::tick() {
  const TimeMs now = clock_.nowMs();
  const auto elapsed = static_cast<std::uint32_t>(std::max<TimeMs>(0, now - last_tick_));
  last_tick_ = now;
  SctpAssociation::handleTimers(elapsed);
  std::vector<Peer*> dead;
  for (auto& [ufrag, peer] : by_ufrag_) {
    if (!peer->onTick(now)) dead.push_back(peer);
  }
  for (Peer* p : dead) {
    removePeer(*p);
    CHORUS_LOG(Info, kTag, "peer " << p->iceUfrag() << " is gone (consent or DTLS failure)");
    if (listener_ != nullptr) listener_->onPeerDead(*p);
  }
}

}  // namespace chorus::io
