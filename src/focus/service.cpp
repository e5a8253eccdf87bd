#include "focus/service.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "focus/media_plane.hpp"
#include "focus/signalling_encryption.hpp"
#include "io/dtls_transport.hpp"
#include "io/tcp_server.hpp"
#include "io/udp_server.hpp"
#include "io/webrtc_peer.hpp"
#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/olm_channel.hpp"
#include "matrix/sync_loop.hpp"
#include "matrix/to_device_queue.hpp"

namespace chorus::focus {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* kTag = "focus";
constexpr std::size_t kMaxQueuedToDevice = 256;        // sends queued per target device
constexpr std::size_t kMaxQueuedToDeviceTotal = 8192;  // and in all (rejects go to anyone who invites)
constexpr TimeMs kTickMs = 50;

void emitJson(const json::object& o) {
  std::string s = json::serialize(o);
  s += '\n';
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------------------
// The Matrix side: login, /sync, joins and to-device sends. Loop thread only, except the constructor.
class MatrixLink {
 public:
  struct Sink {  // called on the Matrix thread; implementations post to the media thread
    std::function<void(Input)> input;
    // curve25519: the focus's Olm identity key ("" with E2EE off).
    std::function<void(const std::string& user_id, const std::string& device_id,
                       const std::string& curve25519)>
        loggedIn;
    std::function<void(const std::string& error)> fatal;
  };

  MatrixLink(matrix::EventLoop& loop, const ServiceOptions& options, Sink sink)
      : loop_(loop),
        client_(loop, options.homeserver),
        options_(options),
        sink_(std::move(sink)),
        to_device_(
            matrix::ToDeviceQueue::Limits{kMaxQueuedToDevice, kMaxQueuedToDeviceTotal},
            [this](const proto::SendToDevice& m,
                   std::function<void(Result<matrix::OlmChannel::Sealed>)> sealed) {
              if (!olm_) return sealed(matrix::OlmChannel::Sealed{m.type, m.content, false});
              // An error (the device has keys but no Olm session could be made): it gets nothing, not
              // plaintext.
              olm_->seal(m.user_id, m.device_id, m.type, m.content,
                         encryption_.shouldEncrypt(m.user_id, m.device_id, m.content), std::move(sealed));
            },
            client_,
            [this](const proto::SendToDevice& m, const Status& result) {
              if (!result) {
                CHORUS_LOG(Warn, kTag,
                           "to-device " << m.type << " to " << m.user_id << "/" << m.device_id
                                        << " failed: " << result.error().message);
              }
              publishE2ee();
            }) {}

  void start() {
    if (!options_.access_token.empty()) {
      client_.setSession(options_.access_token, options_.user, options_.device_id);
      client_.whoami([this](Result<json::object> r) {
        if (!r) return sink_.fatal("whoami failed: " + r.error().message);
        std::string user = options_.user, device = options_.device_id;
        if (auto* u = r->if_contains("user_id"); u && u->is_string()) user = std::string(u->as_string());
        if (auto* d = r->if_contains("device_id"); d && d->is_string()) device = std::string(d->as_string());
        client_.setSession(options_.access_token, user, device);
        afterLogin();
      });
      return;
    }
    client_.login(options_.user, options_.password, options_.device_id, [this](Result<json::object> r) {
      if (!r) return sink_.fatal("login failed: " + r.error().message);
      afterLogin();
    });
  }

  void stopSync() {
    if (sync_) sync_->stop();
  }

  // Loop thread.
  void joinRoom(const std::string& room_id) {
    client_.joinRoom(room_id, [room_id](Result<json::object> r) {
      if (!r) CHORUS_LOG(Warn, kTag, "join " << room_id << " failed: " << r.error().message);
    });
  }

  void sendToDevice(proto::SendToDevice a) {
    const std::string type = a.type;
    const std::string target = a.user_id + "/" + a.device_id;
    if (!to_device_.push(std::move(a))) {
      CHORUS_LOG(Warn, kTag, "to-device queue full; dropping " << type << " to " << target);
    }
  }

  bool idle() const { return to_device_.idle(); }
  // Any thread: the E2EE counters (docs/e2ee.md), published after every /sync and send.
  struct E2ee {
    bool enabled{false};
    matrix::E2eeCounters counters;
  };
  E2ee e2ee() const {
    std::lock_guard lock(e2ee_mutex_);
    return e2ee_;
  }
  // Any thread: malformed /sync events skipped, ill-formed UTF-8 sequences replaced (lossy decoding).
  std::uint64_t syncEventsSkipped() const { return sync_events_skipped_; }
  std::uint64_t syncInvalidUtf8() const { return sync_invalid_utf8_; }

 private:
  void afterLogin() {
    if (!options_.e2ee) {
      sink_.loggedIn(client_.userId(), client_.deviceId(), "");
      sync();
      return;
    }
    // An Olm device like `chorus call` (matrix::OlmChannel): keys go up before the first /sync and before we
    // report ready, so participants that look the focus up can encrypt to it.
    auto store =
        matrix::olmStoreIn(options_.data_dir, options_.olm_passphrase, client_.userId(), client_.deviceId());
    if (!store) return sink_.fatal("Olm state key: " + store.error().message);
    if (options_.data_dir.empty()) {
      CHORUS_LOG(
          Warn, kTag,
          "no --data: the Olm account lives in memory, so a restart publishes new keys for device "
              << client_.deviceId()
              << ", which participants that saw the old ones refuse until they restart (docs/e2ee.md)");
    }
    auto channel = matrix::OlmChannel::open(
        key_transport_, clock_, client_.userId(), client_.deviceId(), *store,
        [this](proto::ToDeviceMessage m, bool encrypted) { onToDevice(std::move(m), encrypted); }, kTag);
    if (!channel) return sink_.fatal("Olm state: " + channel.error().message);
    olm_ = std::move(*channel);
    olm_->uploadKeys(std::nullopt, std::nullopt, [this] {
      publishE2ee();
      sink_.loggedIn(client_.userId(), client_.deviceId(), olm_->identityKeys().curve25519);
      sync();
    });
  }

  void sync() {
    if (sync_) return;
    sync_ = std::make_unique<matrix::SyncLoop>(
        loop_, client_, matrix::SyncLoop::Config{30'000, 500, 10'000},
        [this] { return olm_ ? olm_->syncToken() : 0; },
        [this](const matrix::SyncBatch& b, std::uint64_t key_token) {
          publishSyncCounters();
          onBatch(b, key_token);
        },
        [this](const Error& error, bool, TimeMs retry_in_ms) {
          publishSyncCounters();
          CHORUS_LOG(Warn, kTag,
                     "sync failed: " << error.message << "; retrying in " << retry_in_ms << " ms");
          return true;
        });
    sync_->start();
  }

  // For the media thread's stats (atomics; sync_ lives on this thread).
  void publishSyncCounters() {
    sync_events_skipped_ = sync_->eventsSkipped();
    sync_invalid_utf8_ = client_.invalidUtf8Sequences();
  }

  void onBatch(const matrix::SyncBatch& b, std::uint64_t key_token) {
    for (const auto& room : b.invite) sink_.input(in::RoomInvite{room, ""});
    for (const auto& [room_id, room] : b.join) {
      if (joined_.insert(room_id).second) sink_.input(in::RoomJoined{room_id});
      trackEncryption(room_id, room.state);
      if (!room.state.empty()) sink_.input(in::RoomStateChanged{room_id, room.state});
    }
    for (const auto& room : b.leave) joined_.erase(room);
    if (olm_) olm_->onSync(b, key_token);
    for (const auto& m : b.to_device) {
      if (olm_) {
        olm_->incoming(m);  // decrypted (or plaintext) ones come back through onToDevice
      } else if (m.type != crypto::kEncryptedEventType) {
        onToDevice(m, false);
      }  // E2EE off: nothing we can read
    }
    if (olm_) olm_->afterSync();
    publishE2ee();
  }

  void trackEncryption(const std::string& room_id, const std::vector<proto::StateEvent>& state) {
    if (encryption_.roomState(room_id, state)) {
      CHORUS_LOG(
          Info, kTag,
          "room " << room_id << " is encrypted; call signalling "
                  << (olm_ ? "goes Olm-encrypted to devices with keys" : "stays plaintext (E2EE off)"));
    }
  }

  void onToDevice(proto::ToDeviceMessage m, bool encrypted) {
    if (encrypted) {
      encryption_.receivedEncrypted(m.sender, m.content);
    } else {
      encryption_.receivedPlaintext(m.type, m.content);
    }
    sink_.input(in::ToDevice{std::move(m)});
  }

  void publishE2ee() {
    E2ee e;
    e.enabled = olm_ != nullptr;
    e.counters.plaintext_in_encrypted_room = encryption_.plaintextInEncryptedRoom();
    if (olm_) e.counters.olm = olm_->counters();
    std::lock_guard lock(e2ee_mutex_);
    e2ee_ = e;
  }

  matrix::EventLoop& loop_;
  matrix::Client client_;
  const ServiceOptions& options_;
  Sink sink_;
  std::unique_ptr<matrix::SyncLoop> sync_;  // from the login on
  std::set<std::string> joined_;
  std::atomic<std::uint64_t> sync_events_skipped_{0};
  std::atomic<std::uint64_t> sync_invalid_utf8_{0};
  // E2EE (docs/e2ee.md).
  SystemClock clock_;
  matrix::ClientKeyTransport key_transport_{client_};
  std::unique_ptr<matrix::OlmChannel> olm_;  // null with E2EE off
  SignallingEncryption encryption_;          // which messages go encrypted; plaintext in encrypted rooms
  mutable std::mutex e2ee_mutex_;
  E2ee e2ee_;
  matrix::ToDeviceQueue to_device_;  // per device, bounded; seals with olm_ (above)
};

// ---------------------------------------------------------------------------------------------------------
// The media side on the io_context thread: the UDP (and ICE-TCP) port, one io::WebRtcPeer per participant,
// the timers and the JSON output around the sans-IO focus::MediaPlane (controller + router + negotiation).
// A participant's io::WebRtcPeer as the plane's PeerLink; its events go to the plane under the peer's id.
class RtcLink final : public PeerLink, private io::WebRtcPeer::Listener {
 public:
  RtcLink(const io::DtlsIdentity& identity, io::UdpServer& server, MediaPlane& plane, PeerId id, TimeMs now,
          bool downlink_cc, bool uplink_cc)
      : server_(server),
        plane_(plane),
        id_(id),
        downlink_cc_(downlink_cc),
        rtc_(identity, server, *this, now) {
    rtc_.setUplinkTransportCc(uplink_cc);
  }

  const io::WebRtcPeer& rtc() const { return rtc_; }
  io::UdpServer::Peer& portPeer() { return rtc_; }

  // ---- PeerLink ----
  Result<std::string> acceptOffer(std::string_view sdp) override {
    auto answer = rtc_.acceptOffer(sdp);
    if (answer && !added_) {  // the first answer: ready for the participant's checks
      server_.addPeer(rtc_);
      added_ = true;
    }
    return answer;
  }
  Result<std::string> createOffer(const std::vector<OfferTrack>& tracks) override {
    std::vector<io::SendTrack> send;
    send.reserve(tracks.size());
    for (const auto& t : tracks) {
      io::SendTrack st{t.kind, t.ssrc, t.stream_id, t.track_id, {}};
      if (t.h264 && rtc_.sendH264Codec()) st.codec = *rtc_.sendH264Codec();
      send.push_back(std::move(st));
    }
    return rtc_.createOffer(send);
  }
  Status applyAnswer(std::string_view sdp) override { return rtc_.applyAnswer(sdp); }
  void rollback() override { rtc_.rollback(); }
  std::uint8_t sendPayloadType(std::string_view kind) const override {
    if (kind == "H264") return rtc_.sendH264Codec() ? rtc_.sendH264Codec()->payload_type : 0;
    return rtc_.sendPayloadType(kind);
  }
  std::vector<PublishedTrackInfo> publishedTracks() const override {
    std::vector<PublishedTrackInfo> tracks;
    for (const auto& t : rtc_.publishedTracks()) {
      PublishedTrackInfo info;
      info.mid = t.mid;
      info.kind = t.kind;
      info.stream_id = t.stream_id;
      info.track_id = t.track_id;
      info.rids = t.rids;
      info.ssrcs = t.ssrcs;
      info.clock_rate = t.kind == "audio" ? 48000 : 90000;
      info.codec = t.codec;
      tracks.push_back(std::move(info));
    }
    return tracks;
  }
  void sendText(std::uint16_t stream_id, std::string_view text) override { rtc_.sendText(stream_id, text); }
  void sendRtp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now) override {
    rtc_.sendRtp(buffer, length, now);
  }
  void sendRtcp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now) override {
    rtc_.sendRtcp(buffer, length, now);
  }
  std::uint8_t downlinkTransportCcId() const override {
    return downlink_cc_ ? rtc_.downlinkTransportCcId() : 0;
  }
  LinkStats stats() const override {
    LinkStats s{rtc_.rtpPackets("audio"), rtc_.rtpPackets("video"), std::nullopt};
    if (const auto sel = rtc_.ice().selectedAddress()) s.selected = io::toString(*sel);
    return s;
  }

 private:
  // ---- io::WebRtcPeer::Listener ----
  void onPeerConnected(io::WebRtcPeer&) override { plane_.onConnected(id_); }
  void onPeerFailed(io::WebRtcPeer&, std::string_view reason) override { plane_.onFailed(id_, reason); }
  void onPeerDataChannelOpen(io::WebRtcPeer&, std::uint16_t sid, std::string_view) override {
    plane_.onDataChannelOpen(id_, sid);
  }
  void onPeerDataChannelMessage(io::WebRtcPeer&, std::uint16_t, std::string_view text, bool binary) override {
    plane_.onDataChannelMessage(id_, text, binary);
  }
  void onPeerRtp(io::WebRtcPeer&, const io::RtpInfo& info, media::MutableByteSpan packet,
                 TimeMs now) override {
    InboundRtp in{info.ssrc, info.payload_type, info.seq, info.timestamp, info.marker, info.mid, info.rid};
    in.transport_seq = info.transport_seq;
    in.arrival_us = info.arrival_us;
    plane_.onRtp(id_, in, packet, now);
  }
  void onPeerRtcp(io::WebRtcPeer&, media::MutableByteSpan packet, TimeMs now) override {
    plane_.onRtcp(id_, packet, now);
  }

  io::UdpServer& server_;  // Borrowed.
  MediaPlane& plane_;      // Borrowed.
  const PeerId id_;
  bool downlink_cc_;
  io::WebRtcPeer rtc_;
  bool added_{false};  // to the port
};

class MediaShell final : public MediaPlaneHost, public io::UdpServer::Listener {
 public:
  MediaShell(asio::io_context& io, const ServiceOptions& options, matrix::EventLoop& mloop, MatrixLink& link)
      : io_(io),
        options_(options),
        mloop_(mloop),
        link_(link),
        server_(io, clock_),
        tick_timer_(io),
        stats_timer_(io),
        plane_(*this, clock_, options.controller, options.router) {}

  Status start() {
    identity_ = io::DtlsIdentity::generate("chorus-focus");
    if (!identity_) return fail(Code::Internal, "cannot create the DTLS certificate");
    boost::system::error_code ec;
    if (options_.bind_ip.empty()) {
      // Every address: a dual-stack socket, or IPv4 alone where IPv6 is off.
      auto st = server_.bind(asio::ip::udp::endpoint(asio::ip::address_v6::any(), options_.udp_port));
      if (!st) {
        CHORUS_LOG(Info, kTag, "no IPv6 (" << st.error().message << "), serving IPv4 only");
        if (auto st4 = server_.bind(asio::ip::udp::endpoint(asio::ip::address_v4::any(), options_.udp_port));
            !st4)
          return st4;
      }
    } else {
      auto addr = asio::ip::make_address(options_.bind_ip, ec);
      if (ec) return fail(Code::InvalidArgument, "bad --bind address " + options_.bind_ip);
      if (auto st = server_.bind(asio::ip::udp::endpoint(addr, options_.udp_port)); !st) return st;
    }
    for (const auto& ip : options_.public_ips) {
      asio::ip::make_address(ip, ec);
      if (ec) return fail(Code::InvalidArgument, "bad --public-ip address " + ip);
    }
    server_.setAnnouncedAddresses(options_.public_ips);
    server_.setListener(this);
    if (options_.ice_tcp) {
      // ICE-TCP on the UDP socket's address (the dual-stack "::" or the --bind address).
      tcp_server_ = std::make_unique<io::TcpServer>(io_, clock_, server_);
      const auto local = server_.localEndpoint();
      if (auto st = tcp_server_->bind(asio::ip::tcp::endpoint(local.address(), options_.tcp_port)); !st)
        return st;
    }
    scheduleTick();
    if (options_.stats_interval_s > 0) scheduleStats();
    return {};
  }

  std::uint16_t udpPort() const { return server_.localEndpoint().port(); }
  std::uint16_t tcpPort() const { return server_.tcpPort(); }

  // Media thread.
  void loggedIn(const std::string& user_id, const std::string& device_id, const std::string& curve25519) {
    plane_.loggedIn(user_id, device_id);
    const auto addresses = server_.advertisedAddresses();
    json::array json_addresses;
    for (const auto& a : addresses) json_addresses.emplace_back(a);
    if (options_.json) {
      emitJson({{"event", "ready"},
                {"user_id", user_id},
                {"device_id", device_id},
                {"udp_port", udpPort()},
                {"tcp_port", tcpPort() != 0 ? json::value(tcpPort()) : json::value(nullptr)},
                {"address", addresses.empty() ? json::value() : json::value(addresses.front())},
                {"addresses", std::move(json_addresses)},
                {"curve25519", curve25519.empty() ? json::value(nullptr) : json::value(curve25519)}});
    } else {
      std::string list;
      for (const auto& a : addresses) list += (list.empty() ? "" : ", ") + a;
      CHORUS_LOG(
          Info, kTag,
          "ready as " << user_id << " / " << device_id << ", media on UDP port " << udpPort()
                      << (tcpPort() != 0 ? ", ICE-TCP port " + std::to_string(tcpPort()) : std::string())
                      << ", advertised host candidates: " << list
                      << (curve25519.empty() ? ", E2EE off" : ", Olm curve25519 key " + curve25519));
    }
  }

  void feed(Input input) { plane_.feed(std::move(input)); }

  // Hangs up every participant (the hangups go to the Matrix thread), prints the summary, closes the ports.
  void shutdown() {
    stopping_ = true;
    plane_.shutdown();
    tick_timer_.cancel();
    stats_timer_.cancel();
    if (options_.json) emitJson(summary("summary"));
    plane_.closeAll();
    links_.clear();
    if (tcp_server_) tcp_server_->stop();
    server_.stop();
  }

  // ---- MediaPlaneHost ----
  std::unique_ptr<PeerLink> createLink(PeerId peer) override {
    auto link = std::make_unique<RtcLink>(*identity_, server_, plane_, peer, clock_.nowMs(),
                                          options_.downlink_cc, options_.uplink_cc);
    links_[peer] = link.get();
    return link;
  }
  void retireLink(std::unique_ptr<PeerLink> link) override {
    auto* rtc = static_cast<RtcLink*>(link.get());  // every link is one of createLink()'s
    std::erase_if(links_, [rtc](const auto& kv) { return kv.second == rtc; });
    server_.removePeer(rtc->portPeer());
    // Destroyed from the loop: we may be inside one of its callbacks.
    auto doomed = std::make_shared<std::unique_ptr<PeerLink>>(std::move(link));
    asio::post(io_, [doomed] { doomed->reset(); });
  }
  void post(std::function<void()> f) override { asio::post(io_, std::move(f)); }
  void joinRoom(const std::string& room_id) override {
    mloop_.post([this, r = room_id] { link_.joinRoom(r); });
  }
  void sendToDevice(proto::SendToDevice s) override {
    mloop_.post([this, s = std::move(s)]() mutable { link_.sendToDevice(std::move(s)); });
  }
  void reportNotConnected(PeerId peer, const NotConnected& what) override;

  // ---- io::UdpServer::Listener ----
  void onPeerDead(io::UdpServer::Peer& p) override {
    for (auto& [id, link] : links_) {
      if (&link->portPeer() == &p) return plane_.onDead(id);
    }
  }

 private:
  void scheduleTick() {
    tick_timer_.expires_after(std::chrono::milliseconds(kTickMs));
    tick_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      plane_.tick(clock_.nowMs());
      scheduleTick();
    });
  }

  json::object summary(const char* event) const;

  void scheduleStats() {
    stats_timer_.expires_after(
        std::chrono::milliseconds(static_cast<std::int64_t>(options_.stats_interval_s * 1000)));
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      if (options_.json) {
        emitJson(summary("stats"));
      } else {
        CHORUS_LOG(Info, kTag, json::serialize(summary("stats")));
      }
      scheduleStats();
    });
  }

  asio::io_context& io_;
  const ServiceOptions& options_;
  matrix::EventLoop& mloop_;
  MatrixLink& link_;  // used on the Matrix thread only (through mloop_.post)
  SystemClock clock_;
  io::UdpServer server_;
  std::unique_ptr<io::TcpServer> tcp_server_;  // ICE-TCP; after server_ (it routes through it)
  asio::steady_timer tick_timer_;
  asio::steady_timer stats_timer_;
  io::DtlsIdentityPtr identity_;
  MediaPlane plane_;  // owns the links (after server_: they leave the port when destroyed)
  std::unordered_map<PeerId, RtcLink*> links_;  // the plane's links, by participant
  bool stopping_{false};
};

// What the focus saw of a participant that did not connect: the candidates it advertised and the ones the
// participant signalled, the STUN checks that reached this peer (answered, dropped and why), the addresses
// they validated, the DTLS state, and the port-wide drops (checks for an unknown ufrag, traffic from
// addresses no check validated).
void MediaShell::reportNotConnected(PeerId peer, const NotConnected& what) {
  auto it = links_.find(peer);
  if (it == links_.end()) return;
  const auto& rtc = it->second->rtc();
  const auto& ice = rtc.ice();
  json::array local, remote, drops, port_drops;
  const auto advertised = server_.advertisedAddresses();
  for (const auto& a : advertised) local.emplace_back(a + " udp " + std::to_string(udpPort()));
  if (tcpPort() != 0) {
    for (const auto& a : advertised) local.emplace_back(a + " tcp " + std::to_string(tcpPort()) + " passive");
  }
  for (const auto& c : what.remote_candidates) remote.emplace_back(c);
  for (std::size_t i = 0; i < static_cast<std::size_t>(io::IceDrop::Count); ++i) {
    const auto d = static_cast<io::IceDrop>(i);
    if (auto n = ice.drops().get(d)) drops.push_back(json::object{{"reason", io::toString(d)}, {"count", n}});
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(io::UdpDrop::Count); ++i) {
    const auto d = static_cast<io::UdpDrop>(i);
    if (auto n = server_.drops().get(d))
      port_drops.push_back(json::object{{"reason", io::toString(d)}, {"count", n}});
  }
  const auto selected = ice.selectedAddress();
  std::string verdict;
  if (ice.requestsAnswered() == 0 && ice.drops().total() == 0) {
    verdict =
        "no ICE connectivity check from the participant reached the focus: none of the focus's "
        "candidates is reachable from it (check --public-ip / --bind, firewalls, and that the "
        "participant gathers a candidate that can reach one of ours)";
  } else if (ice.requestsAnswered() == 0) {
    verdict = "ICE checks arrived but were rejected (wrong credentials or integrity)";
  } else if (rtc.dtlsState() != io::DtlsState::Connected) {
    verdict = std::string("ICE checks answered but DTLS is ") + io::toString(rtc.dtlsState());
  } else {
    verdict = "ICE and DTLS are up but the connection is not complete";
  }
  json::object o{{"event", "peer_not_connected"},
                 {"participant", what.who},
                 {"after_ms", what.after_ms},
                 {"reason", verdict},
                 {"local_candidates", local},
                 {"remote_candidates", remote},
                 {"stun_requests_answered", ice.requestsAnswered()},
                 {"stun_drops", drops},
                 {"validated_addresses", ice.validatedCount()},
                 {"selected", selected ? json::value(io::toString(*selected)) : json::value(nullptr)},
                 {"dtls", io::toString(rtc.dtlsState())},
                 {"port_drops", port_drops}};
  if (options_.json) {
    emitJson(o);
    return;
  }
  CHORUS_LOG(Warn, kTag,
             what.who << " has not connected " << what.after_ms / 1000 << " s after our answer: " << verdict
                      << "; details: " << json::serialize(o));
}

// The stats line (the plane's counters, the ports', the Matrix side's).
json::object MediaShell::summary(const char* event) const {
  const MediaPlaneStats plane = plane_.stats();
  const auto& st = plane.router;
  json::object o{{"event", event},
                 {"peers", plane.peers},
                 {"udp_rx", server_.datagramsReceived()},
                 {"udp_tx", server_.datagramsSent()},
                 {"udp_drops", server_.drops().total()},
                 {"tcp_connections", tcp_server_ ? tcp_server_->connectionCount() : 0},
                 {"tcp_frames_rx", tcp_server_ ? tcp_server_->framesReceived() : 0},
                 {"tcp_frames_tx", tcp_server_ ? tcp_server_->framesSent() : 0},
                 {"forwarded_packets", st.forwarded_packets},
                 {"forwarded_bytes", st.forwarded_bytes},
                 {"muted_not_forwarded", st.rtp_muted},
                 {"padding_not_forwarded", st.padding_not_forwarded},
                 {"keyframe_requests", st.keyframe_requests},
                 {"nacks_answered", st.nacks_answered},
                 {"nacks_over_budget", st.nacks_over_budget},
                 {"upstream_nacks_sent", st.upstream_nacks_sent},
                 {"upstream_recovered", st.upstream_recovered},
                 {"sender_reports_forwarded", st.sender_reports_forwarded},
                 {"transport_cc_packets", st.transport_cc_packets},
                 {"transport_cc_feedbacks_sent", st.transport_cc_feedbacks_sent},
                 {"downlink_feedbacks", st.downlink_feedbacks},
                 {"downlink_layer_changes", st.downlink_layer_changes},
                 {"downlink_pauses", st.downlink_pauses},
                 {"downlink_paused_drops", st.downlink_paused_drops},
                 {"downlink_shed_drops", st.downlink_shed_drops},
                 {"probe_clusters", st.probe_clusters},
                 {"probe_packets", st.probe_packets},
                 {"offers_sent", plane.offers_sent},
                 {"not_negotiated_drops", plane.not_negotiated_drops},
                 {"not_negotiated_sr_drops", plane.not_negotiated_sr_drops},
                 {"sync_events_skipped", link_.syncEventsSkipped()},
                 {"sync_invalid_utf8", link_.syncInvalidUtf8()}};
  const auto e2ee = link_.e2ee();  // Olm-encrypted call signalling (docs/e2ee.md)
  o["e2ee"] = e2ee.enabled;
  e2ee.counters.addTo(o);
  if (plane.controller) {
    const auto& c = *plane.controller;
    o["invites_accepted"] = c.invites_accepted;
    o["rejected_not_member"] = c.rejected_not_member;
    o["rejected_not_our_focus"] = c.rejected_not_our_focus;
    o["rejected_unknown_conf"] = c.rejected_unknown_conf;
    o["rejected_full"] = c.rejected_full;
    o["removed_membership"] = c.removed_membership;
    o["removed_keepalive"] = c.removed_keepalive;
    o["invites_accepted_unjoined"] = c.invites_accepted_unjoined;
    o["rejected_unjoined_limit"] = c.rejected_unjoined_limit;
    o["promoted_unjoined"] = c.promoted_unjoined;
    o["removed_unverified"] = c.removed_unverified;
    o["ids_rewritten"] = plane.ids_rewritten;  // stream/track ids given under another id
    json::array peers;
    for (const auto& p : plane.participants) {
      json::object po{{"user_id", p.user_id},
                      {"device_id", p.device_id},
                      {"conf_id", p.conf_id},
                      {"connected", p.connected}};
      if (p.link) {
        po["rtp_audio_in"] = p.link->rtp_audio_in;
        po["rtp_video_in"] = p.link->rtp_video_in;
        po["tracks_out"] = p.tracks_out;
        // Where the focus sends to this participant: "tcp:ip:port" for ICE-TCP, a TURN relay's address, ...
        po["selected"] = p.link->selected ? json::value(*p.link->selected) : json::value(nullptr);
      }
      if (p.downlink) {  // the focus's estimate of what it can send this participant
        const auto& d = *p.downlink;
        po["downlink"] = json::object{{"target_kbps", d.target_bps / 1000},
                                      {"delay_based_kbps", d.delay_based_bps / 1000},
                                      {"loss_based_kbps", d.loss_based_bps / 1000},
                                      {"acked_kbps", d.acked_bps / 1000},
                                      {"allocated_kbps", d.allocated_bps / 1000},
                                      {"rtt_ms", d.rtt_ms},
                                      {"feedbacks", d.feedbacks},
                                      {"packets_lost", d.packets_lost},
                                      {"packets_acked", d.packets_acked},
                                      {"probe_raises", d.probe_raises},
                                      {"delay_decreases", d.delay_decreases},
                                      {"loss_decreases", d.loss_decreases},
                                      {"paused", d.paused}};
      }
      if (!p.published.empty()) {  // "mid:rid" -> kbit/s of each video layer it sends
        json::object layers;
        for (const auto& l : p.published) layers[l.mid + ":" + l.rid] = l.bps / 1000;
        po["published_kbps"] = std::move(layers);
      }
      peers.push_back(std::move(po));
    }
    o["participants"] = std::move(peers);
  }
  return o;
}

}  // namespace

Status applyConfigFile(const std::string& path, ServiceOptions& options) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(Code::InvalidArgument, "cannot open " + path);
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < 1024 * 1024;)
    text.append(buf, n);
  std::fclose(f);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail(Code::InvalidArgument, path + ": not a JSON object");
  const json::object& o = v.as_object();
  auto strings = [&](const char* key, std::vector<std::string>& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_array())
      return fail(Code::InvalidArgument, path + ": " + key + " must be an array of strings");
    out.clear();
    for (const auto& e : x->as_array()) {
      if (!e.is_string())
        return fail(Code::InvalidArgument, path + ": " + key + " must be an array of strings");
      out.emplace_back(e.as_string());
    }
    return {};
  };
  auto number = [&](const char* key, auto& out, double scale) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_number()) return fail(Code::InvalidArgument, path + ": " + key + " must be a number");
    const double d = x->to_number<double>() * scale;
    if (d < 0) return fail(Code::InvalidArgument, path + ": " + key + " must not be negative");
    out = static_cast<std::remove_reference_t<decltype(out)>>(d);
    return {};
  };
  auto text_key = [&](const char* key, std::string& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_string()) return fail(Code::InvalidArgument, path + ": " + key + " must be a string");
    out = std::string(x->as_string());
    return {};
  };
  auto boolean = [&](const char* key, bool& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_bool()) return fail(Code::InvalidArgument, path + ": " + key + " must be true or false");
    out = x->as_bool();
    return {};
  };
  // A string or an array of strings.
  auto public_ips = [&](const char* key, std::vector<std::string>& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (x && x->is_string()) {
      out = {std::string(x->as_string())};
      return {};
    }
    return strings(key, out);
  };
  Config& c = options.controller;
  for (Status st :
       {strings("allowed_servers", c.allowed_servers), strings("allowed_rooms", c.allowed_rooms),
        number("max_rooms", c.max_rooms, 1), number("max_conferences", c.max_conferences, 1),
        number("max_participants_per_conference", c.max_participants_per_conference, 1),
        number("max_data_channel_message", c.max_data_channel_message, 1),
        number("ping_interval_s", c.ping_interval_ms, 1000),
        number("pong_timeout_s", c.pong_timeout_ms, 1000),
        number("connect_timeout_s", c.connect_timeout_ms, 1000), public_ips("public_ip", options.public_ips),
        text_key("bind_ip", options.bind_ip), number("udp_port", options.udp_port, 1),
        number("tcp_port", options.tcp_port, 1), boolean("ice_tcp", options.ice_tcp)}) {
    if (!st) return st;
  }
  // Conferences of rooms the focus has not joined (docs/focus.md).
  std::string unjoined;
  for (Status st :
       {text_key("unjoined_rooms", unjoined), strings("unjoined_allowed_servers", c.unjoined_allowed_servers),
        number("max_unjoined_per_user", c.max_unjoined_per_user, 1),
        number("max_unjoined_per_server", c.max_unjoined_per_server, 1)}) {
    if (!st) return st;
  }
  if (!unjoined.empty()) {
    auto policy = parseUnjoinedRooms(unjoined);
    if (!policy)
      return fail(Code::InvalidArgument, path + ": unjoined_rooms must be off, own-server or allow-list");
    c.unjoined_rooms = *policy;
  }
  return {};
}

int runFocus(const ServiceOptions& options) {
  asio::io_context io;
  matrix::EventLoop mloop;
  std::atomic<int> exit_code{0};

  MediaShell* plane_ptr = nullptr;
  MatrixLink link(mloop, options,
                  MatrixLink::Sink{
                      [&](Input i) {
                        asio::post(io, [&, i = std::move(i)]() mutable { plane_ptr->feed(std::move(i)); });
                      },
                      [&](const std::string& u, const std::string& d, const std::string& k) {
                        asio::post(io, [&, u, d, k] { plane_ptr->loggedIn(u, d, k); });
                      },
                      [&](const std::string& error) {
                        CHORUS_LOG(Error, kTag, error);
                        exit_code = 1;
                        io.stop();
                      },
                  });
  MediaShell plane(io, options, mloop, link);
  plane_ptr = &plane;
  if (auto st = plane.start(); !st) {
    CHORUS_LOG(Error, kTag, "cannot start the media plane: " << st.error().message);
    return 1;
  }
  std::thread matrix_thread([&] {
    mloop.post([&] { link.start(); });
    mloop.run();
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer drain(io);
  std::atomic<bool> link_idle{false};
  std::function<void(std::chrono::steady_clock::time_point)> wait_drained =
      [&](std::chrono::steady_clock::time_point until) {
        mloop.post([&] { link_idle = link.idle(); });
        drain.expires_after(std::chrono::milliseconds(50));
        drain.async_wait([&, until](boost::system::error_code ec) {
          if (!ec && !link_idle && std::chrono::steady_clock::now() < until) return wait_drained(until);
          io.stop();
        });
      };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    plane.shutdown();
    // Let the hangups go out (at most 3 s), then stop both loops.
    mloop.post([&] { link.stopSync(); });
    wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(3));
  });
  io.run();
  mloop.stop();
  matrix_thread.join();
  return exit_code.load();
}

}  // namespace chorus::focus
