#include "focus/media_shell.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <cstdio>

#include "base/log.hpp"

namespace chorus::focus {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* kMediaShellTag = "focus";

// One JSON line on stdout (--json), flushed at once: the tests and the benchmarks read them as they come.
void emitJson(const json::object& o) {
  std::string s = json::serialize(o);
  s += '\n';
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

MediaShell::MediaShell(asio::io_context& io, const ServiceOptions& options, matrix::EventLoop& mloop,
                       MatrixLink& link)
    : io_(io),
      options_(options),
      mloop_(mloop),
      link_(link),
      server_(io, clock_),
      stats_timer_(io),
      plane_(*this, clock_, options.controller, options.router) {}

Status MediaShell::start() {
  identity_ = io::DtlsIdentity::generate("chorus-focus");
  if (!identity_) return fail(Code::Internal, "cannot create the DTLS certificate");
  boost::system::error_code ec;
  if (options_.bind_ip.empty()) {
    // Every address: a dual-stack socket, or IPv4 alone where IPv6 is off.
    auto st =
        server_.bind(asio::ip::udp::endpoint(asio::ip::address_v6::any(), options_.udp_port), kUdpTickMs);
    if (!st) {
      CHORUS_LOG(Info, kMediaShellTag, "no IPv6 (" << st.error().message << "), serving IPv4 only");
      if (auto st4 = server_.bind(asio::ip::udp::endpoint(asio::ip::address_v4::any(), options_.udp_port),
                                  kUdpTickMs);
          !st4)
        return st4;
    }
  } else {
    auto addr = asio::ip::make_address(options_.bind_ip, ec);
    if (ec) return fail(Code::InvalidArgument, "bad --bind address " + options_.bind_ip);
    if (auto st = server_.bind(asio::ip::udp::endpoint(addr, options_.udp_port), kUdpTickMs); !st) return st;
  }
  for (const auto& ip : options_.public_ips) {
    asio::ip::make_address(ip, ec);
    if (ec) return fail(Code::InvalidArgument, "bad --public-ip address " + ip);
  }
  server_.setAnnouncedAddresses(options_.public_ips);
  server_.setListener(this);
  server_.setGso(options_.udp_gso);
  server_.setReceiveCoalescing(options_.rx_coalesce_ms);
  if (options_.ice_tcp) {
    // ICE-TCP on the UDP socket's address (the dual-stack "::" or the --bind address).
    tcp_server_ = std::make_unique<io::TcpServer>(io_, clock_, server_);
    const auto local = server_.localEndpoint();
    if (auto st = tcp_server_->bind(asio::ip::tcp::endpoint(local.address(), options_.tcp_port)); !st)
      return st;
  }
  if (options_.stats_interval_s > 0) scheduleStats();
  return {};
}

void MediaShell::loggedIn(const std::string& user_id, const std::string& device_id,
                          const std::string& curve25519) {
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
    CHORUS_LOG(Info, kMediaShellTag,
               "ready as " << user_id << " / " << device_id << ", media on UDP port " << udpPort()
                           << (tcpPort() != 0 ? ", ICE-TCP port " + std::to_string(tcpPort()) : std::string())
                           << ", advertised host candidates: " << list
                           << (curve25519.empty() ? ", E2EE off" : ", Olm curve25519 key " + curve25519));
  }
}

void MediaShell::shutdown() {
  stopping_ = true;
  plane_.shutdown();
  stats_timer_.cancel();
  if (options_.json) emitJson(summary("summary"));
  plane_.closeAll();
  links_.clear();
  if (tcp_server_) tcp_server_->stop();
  server_.stop();
}

std::unique_ptr<PeerLink> MediaShell::createLink(ParticipantId peer) {
  auto link = std::make_unique<RtcLink>(*identity_, server_, plane_, peer, clock_.nowMs(),
                                        options_.downlink_cc, options_.uplink_cc, options_.rtx);
  link->setSdpLimits(io::SdpLimits::forSections(options_.max_media_sections));
  links_[peer] = link.get();
  return link;
}

void MediaShell::retireLink(std::unique_ptr<PeerLink> link) {
  auto* rtc = static_cast<RtcLink*>(link.get());  // every link is one of createLink()'s
  std::erase_if(links_, [rtc](const auto& kv) { return kv.second == rtc; });
  server_.removePeer(rtc->portPeer());
  // Destroyed from the loop: we may be inside one of its callbacks.
  auto doomed = std::make_shared<std::unique_ptr<PeerLink>>(std::move(link));
  asio::post(io_, [doomed] { doomed->reset(); });
}

void MediaShell::post(std::function<void()> f) {
  asio::post(io_, std::move(f));
}

void MediaShell::joinRoom(const std::string& room_id) {
  mloop_.post([this, r = room_id] { link_.joinRoom(r); });
}

void MediaShell::sendToDevice(proto::SendToDevice s) {
  mloop_.post([this, s = std::move(s)]() mutable { link_.sendToDevice(std::move(s)); });
}

void MediaShell::onPeerDead(io::UdpServer::Peer& p) {
  for (auto& [id, link] : links_) {
    if (&link->portPeer() == &p) return plane_.onDead(id);
  }
}

void MediaShell::onTick(TimeMs now) {
  if (!stopping_) plane_.tick(now);
}

void MediaShell::scheduleStats() {
  stats_timer_.expires_after(
      std::chrono::milliseconds(static_cast<std::int64_t>(options_.stats_interval_s * 1000)));
  stats_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    if (options_.json) {
      emitJson(summary("stats"));
    } else {
      CHORUS_LOG(Info, kMediaShellTag, json::serialize(summary("stats")));
    }
    scheduleStats();
  });
}

// What the focus saw of a participant that did not connect: the candidates it advertised and the ones the
// participant signalled, the STUN checks that reached this peer (answered, dropped and why), the addresses
// they validated, the DTLS state, and the port-wide drops (checks for an unknown ufrag, traffic from
// addresses no check validated).
void MediaShell::reportNotConnected(ParticipantId peer, const NotConnected& what) {
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
  CHORUS_LOG(Warn, kMediaShellTag,
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
                 {"udp_tx_calls", server_.sendCalls()},
                 {"udp_rx_wakeups", server_.receiveWakeups()},
                 {"udp_rx_coalesced", server_.coalescedWaits()},
                 {"udp_ticks", server_.ticks()},
                 {"udp_ticks_on_rx", server_.ticksOnReceive()},
                 {"udp_tx_gso", server_.gsoDatagramsSent()},
                 {"udp_drops", server_.drops().total()},
                 {"tcp_connections", tcp_server_ ? tcp_server_->connectionCount() : 0},
                 {"tcp_frames_rx", tcp_server_ ? tcp_server_->framesReceived() : 0},
                 {"tcp_frames_tx", tcp_server_ ? tcp_server_->framesSent() : 0},
                 {"forwarded_packets", st.forwarded_packets},
                 {"forwarded_bytes", st.forwarded_bytes},
                 {"muted_not_forwarded", st.rtp_muted},
                 {"padding_not_forwarded", st.padding_not_forwarded},
                 {"keyframe_requests", st.keyframe_requests},
                 {"publisher_caps_sent", st.publisher_caps_sent},
                 {"nacks_answered", st.nacks_answered},
                 {"nacks_missed", st.nacks_missed},
                 {"nacks_over_budget", st.nacks_over_budget},
                 {"nacks_before_switch", st.nacks_before_switch},
                 {"upstream_nacks_sent", st.upstream_nacks_sent},
                 {"upstream_recovered", st.upstream_recovered},
                 {"upstream_given_up", st.upstream_given_up},
                 {"upstream_lost_keyframe_requests", st.upstream_lost_keyframe_requests},
                 {"rtx_sent", st.rtx_sent},
                 {"rtx_received", st.rtx_received},
                 {"rtx_unwrapped", st.rtx_unwrapped},
                 {"rtx_padding_dropped", st.rtx_padding_dropped},
                 {"rtx_redundant_dropped", st.rtx_redundant_dropped},
                 {"rtx_malformed", st.rtx_malformed},
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
                 {"audio_slot_subscribers", st.audio_slot_subscribers},
                 {"audio_slot_switches", st.audio_slot_switches},
                 {"offers_sent", plane.offers_sent},
                 {"offers_refused", plane.offers_refused},
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
    o["metadata_messages"] = c.metadata_messages;
    o["metadata_bytes"] = c.metadata_bytes;
    o["audio_slot_messages"] = c.audio_slot_messages;
    o["answers_without_metadata"] = c.answers_without_metadata;
    o["answers_too_large"] = c.answers_too_large;
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
        if (const auto& dc = p.link->data_channel) {
          po["data_channel"] = json::object{{"messages_in", dc->messages_in},
                                            {"messages_out", dc->messages_out},
                                            {"drops", dc->drops},
                                            {"state", dc->state},
                                            {"peer_rwnd", dc->peer_rwnd},
                                            {"unacked", dc->unacked},
                                            {"pending", dc->pending},
                                            {"srtt_ms", dc->srtt_ms},
                                            {"rto_ms", dc->rto_ms},
                                            {"path", dc->path},
                                            {"wire", json::object{{"data_in", dc->data_chunks_in},
                                                                  {"data_out", dc->data_chunks_out},
                                                                  {"sacks_in", dc->sacks_in},
                                                                  {"sacks_out", dc->sacks_out},
                                                                  {"last_tsn_in", dc->last_tsn_in},
                                                                  {"cum_ack_out", dc->cum_ack_out},
                                                                  {"rwnd_out", dc->rwnd_out},
                                                                  {"last_tsn_out", dc->last_tsn_out},
                                                                  {"cum_ack_in", dc->cum_ack_in}}}};
        }
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
      if (p.send_cap_bps > 0) po["send_cap_kbps"] = p.send_cap_bps / 1000;  // REMB to it
      peers.push_back(std::move(po));
    }
    o["participants"] = std::move(peers);
  }
  return o;
}

}  // namespace chorus::focus
