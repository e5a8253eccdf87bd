#include "focus/router_state.hpp"

#include <cstring>

namespace chorus::focus {

// ---- RTCP ----

Router::Subscription* Router::findByOutSsrc(Participant& subscriber, std::uint32_t ssrc) const {
  for (auto& s : subscriber.subscriptions) {
    if (s->out.ssrc == ssrc) return s.get();
  }
  return nullptr;
}

// Writes the RTX packet (RFC 4588 §4) that carries `original` (a stored packet of `s`) into rtp_scratch_;
// returns its length (at most the original's + 2, which the caller checked fits). Header extensions are
// left out (the stored packets have none).
std::size_t Router::wrapRtx(const media::RtpPacketView& original, Subscription& s, std::uint8_t rtx_pt) {
  const std::size_t fixed = media::kRtpHeaderSize + 4 * std::size_t{original.csrcCount()};
  const media::ByteSpan bytes = original.data();
  const std::size_t body = bytes.size() - original.headerSize();  // payload + padding
  std::uint8_t* o = rtp_scratch_.data();
  std::memcpy(o, bytes.data(), fixed);
  o[0] &= static_cast<std::uint8_t>(~0x10);
  o[1] = static_cast<std::uint8_t>((original.marker() ? 0x80 : 0) | (rtx_pt & 0x7F));
  media::store16(o + 2, s.rtx_seq++);
  media::store32(o + 8, s.out.rtx_ssrc);
  media::store16(o + fixed, original.sequenceNumber());  // OSN
  std::memcpy(o + fixed + 2, bytes.data() + original.headerSize(), body);
  return fixed + 2 + body;
}

void Router::answerNack(Participant& subscriber, const media::RtcpNack& nack, TimeMs now) {
  ++stats_.nack_packets_received;
  Subscription* s = findByOutSsrc(subscriber, nack.media_ssrc);
  if (s == nullptr) {
    stats_.drops.count(RouterDrop::UnknownMediaSsrc);
    return;
  }
  const std::size_t named = nack.lostSequenceNumbers(nack_seqs_);
  const std::size_t n = std::min({named, nack_seqs_.size(), config_.max_nack_seqs_per_packet});
  stats_.nacks_missed += named - n;
  DownlinkController* d = subscriber.downlink.get();
  // Not the same packet again before a resent copy could have arrived: a receiver behind a queue NACKs it
  // every round trip, and answering each would feed the queue. libwebrtc's sender waits one RTT; so does the
  // focus once the subscriber's feedback gives one (a repair that is lost too is then resent in time for
  // the frame, issue #12), else rtx_min_resend_interval_ms.
  const TimeMs min_interval = d != nullptr && d->hasFeedback()
                                  ? std::max<TimeMs>(d->rttMs(), kMinRtxResendIntervalMs)
                                  : config_.rtx_min_resend_interval_ms;
  if (d != nullptr) d->beginRetransmissions(now);
  // RTX (RFC 4588) when the subscriber accepted it for this codec: the RTX stream's SSRC, payload type and
  // numbering, the original sequence number (OSN) in front of the payload. Else the stored packet as it was.
  const bool h264 = s->track->video && s->track->codec == VideoCodec::H264;
  const std::uint8_t rtx_pt = !s->track->video ? 0 : h264 ? subscriber.rtx_h264_pt : subscriber.rtx_video_pt;
  const bool use_rtx = rtx_pt != 0 && s->out.rtx_ssrc != 0;
  const std::size_t extra = use_rtx ? 2 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (s->switch_seq && static_cast<std::int16_t>(nack_seqs_[i] - *s->switch_seq) < 0) {
      ++stats_.nacks_before_switch;  // the old layer's: no use to the subscriber after the switch
      continue;
    }
    const auto stored = s->rtx ? s->rtx->getForResend(nack_seqs_[i], now, min_interval) : std::nullopt;
    if (!stored || stored->size() + extra > config_.max_packet_size) {
      ++stats_.nacks_missed;
      continue;
    }
    // Within the downlink's retransmission budget (half its estimate): on a congested link retransmissions
    // would otherwise crowd out the media they repair (and cause more loss, more NACKs).
    if (d != nullptr && !d->admitRetransmission(stored->size() + extra)) {
      ++stats_.nacks_over_budget;
      continue;
    }
    std::size_t length = stored->size();
    if (use_rtx) {
      const auto header = media::RtpPacketView::parse(*stored);
      if (!header) {  // the buffer only holds packets we built
        ++stats_.nacks_missed;
        continue;
      }
      length = wrapRtx(*header, *s, rtx_pt);
      ++stats_.rtx_sent;
      ++s->rtx_sent;
    } else {
      std::memcpy(rtp_scratch_.data(), stored->data(), stored->size());
    }
    ++stats_.nacks_answered;
    ++s->retransmitted;
    sendToSubscriber(subscriber, length, now);
  }
}

void Router::onRtcp(ParticipantId from, media::ByteSpan compound, TimeMs now) {
  ++stats_.rtcp_received;
  Participant* p = findParticipant(from);
  if (p == nullptr) {
    stats_.drops.count(RouterDrop::UnknownPeer);
    return;
  }
  media::RtcpCompoundReader reader(compound);
  while (auto pk = reader.next()) {
    if (pk->type == media::kRtcpSr) {
      const auto sr = media::RtcpSenderReport::parse(*pk);
      if (!sr) {
        stats_.drops.count(RouterDrop::MalformedRtcp);
        continue;
      }
      ++stats_.sender_reports_received;
      if (auto it = p->streams.find(sr->ssrc); it != p->streams.end()) {
        it->second.have_sr = true;
        it->second.last_sr = static_cast<std::uint32_t>(sr->ntp_timestamp >> 16);
        it->second.sr_received_at = now;
        forwardSenderReport(*it->second.track, *sr);
      }
    } else if (pk->type == media::kRtcpRtpfb && pk->count == media::kRtpfbNack) {
      const auto nack = media::RtcpNack::parse(*pk);
      if (!nack) {
        stats_.drops.count(RouterDrop::MalformedRtcp);
        continue;
      }
      answerNack(*p, *nack, now);
    } else if (pk->type == media::kRtcpRtpfb && pk->count == media::kRtpfbTransportCc) {
      if (!p->downlink) continue;  // about packets we did not number
      const auto fb = media::TransportCcFeedback::parse(*pk);
      if (!fb) {
        stats_.drops.count(RouterDrop::MalformedRtcp);
        continue;
      }
      onDownlinkFeedback(*p, *fb, now);
    } else if (pk->type == media::kRtcpPsfb && pk->count == media::kPsfbPli) {
      const auto pli = media::RtcpPli::parse(*pk);
      if (!pli) {
        stats_.drops.count(RouterDrop::MalformedRtcp);
        continue;
      }
      Subscription* s = findByOutSsrc(*p, pli->media_ssrc);
      if (s == nullptr) {
        stats_.drops.count(RouterDrop::UnknownMediaSsrc);
        continue;
      }
      ++stats_.keyframe_requests_received;
      requestKeyframeFor(*s, now);
    } else if (pk->type == media::kRtcpPsfb && pk->count == media::kPsfbFir) {
      const auto fir = media::RtcpFir::parse(*pk);
      if (!fir) {
        stats_.drops.count(RouterDrop::MalformedRtcp);
        continue;
      }
      for (std::size_t i = 0; i < fir->entryCount(); ++i) {
        Subscription* s = findByOutSsrc(*p, fir->entry(i).ssrc);
        if (s == nullptr) {
          stats_.drops.count(RouterDrop::UnknownMediaSsrc);
          continue;
        }
        ++stats_.keyframe_requests_received;
        requestKeyframeFor(*s, now);
      }
    }
    // RR, SDES, BYE, REMB, transport-cc, XR: nothing to do yet.
  }
  if (reader.error()) stats_.drops.count(RouterDrop::MalformedRtcp);
}

void Router::sendReceiverReport(Participant& p, TimeMs now) {
  p.last_rr = now;
  std::array<media::RtcpReportBlock, kMaxReportBlocks> blocks{};
  std::size_t count = 0;
  std::size_t pos = 0;
  const media::MutableByteSpan buf(rtcp_scratch_);
  auto flush = [&] {
    if (count == 0) return;
    if (auto n = media::buildRtcpReceiverReport(buf.subspan(pos), config_.focus_ssrc,
                                                std::span(blocks.data(), count))) {
      pos += *n;
    }
    count = 0;
  };
  for (auto& [ssrc, in] : p.streams) {
    if (in.rx.received() == 0) continue;
    media::RtcpReportBlock b = in.rx.report(ssrc);
    if (in.have_sr) {
      b.last_sr = in.last_sr;
      const std::int64_t delay = std::max<std::int64_t>(0, now - in.sr_received_at) * 65536 / 1000;
      b.delay_since_last_sr = static_cast<std::uint32_t>(std::min<std::int64_t>(delay, 0xFFFFFFFF));
    }
    blocks[count++] = b;
    if (count == kMaxReportBlocks) flush();
  }
  flush();
  if (pos == 0) return;
  // SDES with our CNAME (RFC 3550 §6.1: every compound carries one).
  const std::size_t cname = config_.cname.size();
  const std::size_t sdes = (8 + 2 + cname + 1 + 3) / 4 * 4;  // at least one null octet ends the chunk
  if (cname > 0 && pos + sdes <= buf.size()) {
    std::uint8_t* d = buf.data() + pos;
    std::memset(d, 0, sdes);
    d[0] = 0x81;
    d[1] = media::kRtcpSdes;
    media::store16(d + 2, static_cast<std::uint16_t>(sdes / 4 - 1));
    media::store32(d + 4, config_.focus_ssrc);
    d[8] = 1;  // CNAME
    d[9] = static_cast<std::uint8_t>(cname);
    std::memcpy(d + 10, config_.cname.data(), cname);
    pos += sdes;
  }
  ++stats_.receiver_reports_sent;
  sink_.sendRtcp(p.id, buf, pos);
}

void Router::recordTransportSeq(Participant& p, std::uint32_t ssrc, std::uint16_t seq, TimeMs now,
                                std::int64_t arrival_us) {
  if (!p.tcc) {
    media::cc::TransportCcFeedbackGenerator::Config c;
    c.sender_ssrc = config_.focus_ssrc;
    c.media_ssrc = ssrc;  // informational: the feedback covers the whole transport
    c.max_feedback_bytes = config_.transport_cc_max_feedback_bytes;
    c.max_tracked = config_.transport_cc_history;
    c.max_status_count = config_.transport_cc_history / 2;
    c.max_reorder = config_.transport_cc_history / 4;
    p.tcc = std::make_unique<media::cc::TransportCcFeedbackGenerator>(c);
    p.last_tcc_feedback = now;
  }
  ++stats_.transport_cc_packets;
  const auto too_late = p.tcc->counters().too_late;
  p.tcc->onPacket(seq, arrival_us);
  stats_.transport_cc_too_late += p.tcc->counters().too_late - too_late;
}

void Router::sendTransportFeedback(Participant& p, TimeMs now) {
  p.last_tcc_feedback = now;
  const media::MutableByteSpan buf(rtcp_scratch_.data(), config_.transport_cc_max_feedback_bytes);
  for (std::size_t i = 0; i < config_.transport_cc_max_feedbacks_per_tick; ++i) {
    const auto n = p.tcc->nextFeedback(buf);
    if (!n) break;
    ++stats_.transport_cc_feedbacks_sent;
    sink_.sendRtcp(p.id, rtcp_scratch_, *n);
  }
}

}  // namespace chorus::focus
