#pragma once
// A participant's io::WebRtcPeer (ICE-lite, DTLS, SRTP, SCTP on the focus's one port) as the media plane's
// focus::PeerLink; its events go to the plane under the participant's ParticipantId. Media thread only.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "focus/media_plane.hpp"
#include "io/udp_server.hpp"
#include "io/webrtc_peer.hpp"

namespace chorus::focus {

// A participant's io::WebRtcPeer as the plane's PeerLink; its events go to the plane under the peer's id.
class RtcLink final : public PeerLink, private io::WebRtcPeer::Listener {
 public:
  RtcLink(const io::DtlsIdentity& identity, io::UdpServer& server, MediaPlane& plane, ParticipantId id,
          TimeMs now, bool downlink_cc, bool uplink_cc, bool rtx)
      : server_(server),
        plane_(plane),
        id_(id),
        downlink_cc_(downlink_cc),
        rtc_(identity, server, *this, now) {
    rtc_.setUplinkTransportCc(uplink_cc);
    rtc_.setRtx(rtx);
  }

  const io::WebRtcPeer& rtc() const { return rtc_; }
  void setSdpLimits(const io::SdpLimits& limits) { rtc_.setSdpLimits(limits); }
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
      io::SendTrack st{t.kind, t.ssrc, t.stream_id, t.track_id, {}, t.rtx_ssrc};
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
      info.rtx_payload_type = t.rtx_payload_type;
      info.rtx_ssrcs = t.rtx_ssrcs;
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
  std::uint8_t sendRtxPayloadType(std::string_view kind) const override {
    return rtc_.sendRtxPayloadType(kind);
  }
  std::uint8_t downlinkTransportCcId() const override {
    return downlink_cc_ ? rtc_.downlinkTransportCcId() : 0;
  }
  LinkStats stats() const override {
    LinkStats s{rtc_.rtpPackets("audio"), rtc_.rtpPackets("video"), std::nullopt};
    if (const auto sel = rtc_.ice().selectedAddress()) s.selected = io::toString(*sel);
    if (const io::SctpAssociation* a = rtc_.sctp()) {
      LinkStats::DataChannel dc;
      dc.messages_in = a->messagesReceived();
      dc.messages_out = a->messagesSent();
      dc.drops = a->drops().total();
      const media::SctpChunkTally& in = a->wireIn();
      const media::SctpChunkTally& out = a->wireOut();
      dc.data_chunks_in = in.data_chunks;
      dc.data_chunks_out = out.data_chunks;
      dc.sacks_in = in.sacks;
      dc.sacks_out = out.sacks;
      dc.last_tsn_in = in.last_data_tsn;
      dc.cum_ack_out = out.last_cum_tsn_ack;
      dc.rwnd_out = out.last_a_rwnd;
      dc.last_tsn_out = out.last_data_tsn;
      dc.cum_ack_in = in.last_cum_tsn_ack;
      if (const auto st = a->status()) {
        dc.state = st->state;
        dc.peer_rwnd = st->peer_rwnd;
        dc.unacked = st->unacked;
        dc.pending = st->pending;
        dc.srtt_ms = st->srtt_ms;
        dc.rto_ms = st->rto_ms;
        dc.path = io::SctpAssociation::pathStateName(st->path_state);
      }
      s.data_channel = dc;
    }
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
  void onPeerRtp(io::WebRtcPeer&, const io::RtpInfo& info, const media::RtpPacketView& rtp,
                 TimeMs now) override {
    InboundRtp in{info.mid, info.rid, info.transport_seq, info.arrival_us};
    in.repaired_rid = info.repaired_rid;
    in.audio_level = info.audio_level;
    plane_.onRtp(id_, in, rtp, now);
  }
  void onPeerRtcp(io::WebRtcPeer&, media::MutableByteSpan packet, TimeMs now) override {
    plane_.onRtcp(id_, packet, now);
  }

  io::UdpServer& server_;  // Borrowed.
  MediaPlane& plane_;      // Borrowed.
  const ParticipantId id_;
  bool downlink_cc_;
  io::WebRtcPeer rtc_;
  bool added_{false};  // to the port
};

}  // namespace chorus::focus
