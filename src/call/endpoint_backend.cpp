#include "call/endpoint_backend.hpp"

namespace chorus::call {

void EndpointBackend::execute(const core::Action& action) {
  if (const auto* a = std::get_if<core::act::CreateLeg>(&action)) {
    endpoint::LegOptions opt;
    opt.media_enabled = a->media_enabled;
    opt.data_channel = a->data_channel;
    engine_.createLeg(a->leg, opt);
  } else if (const auto* o = std::get_if<core::act::CreateOffer>(&action)) {
    engine_.createOffer(o->leg, o->ice_restart);
  } else if (const auto* ans = std::get_if<core::act::CreateAnswer>(&action)) {
    engine_.createAnswer(ans->leg);
  } else if (const auto* r = std::get_if<core::act::SetRemoteDescription>(&action)) {
    if (on_remote_candidate) {
      // Candidates inside the description (a focus puts all of its own there).
      const std::string& sdp = r->description.sdp;
      for (std::size_t pos = sdp.find("a=candidate:"); pos != std::string::npos;
           pos = sdp.find("a=candidate:", pos + 1)) {
        const auto end = sdp.find_first_of("\r\n", pos);
        on_remote_candidate(
            r->leg, sdp.substr(pos + 2, end == std::string::npos ? std::string::npos : end - pos - 2));
      }
    }
    auto type = endpoint::parseSdpType(r->description.type);
    if (type) engine_.setRemoteDescription(r->leg, *type, r->description.sdp);
  } else if (const auto* c = std::get_if<core::act::AddRemoteCandidates>(&action)) {
    for (const auto& cand : c->candidates) {
      std::optional<std::uint32_t> index;
      if (cand.sdp_mline_index && *cand.sdp_mline_index >= 0 && *cand.sdp_mline_index < 1024) {
        index = static_cast<std::uint32_t>(*cand.sdp_mline_index);
      }
      if (on_remote_candidate) on_remote_candidate(c->leg, cand.candidate);
      engine_.addRemoteCandidate(c->leg, cand.candidate, cand.sdp_mid, index);
    }
  } else if (const auto* m = std::get_if<core::act::SetLegMediaEnabled>(&action)) {
    engine_.setMediaEnabled(m->leg, m->enabled);
  } else if (const auto* cl = std::get_if<core::act::CloseLeg>(&action)) {
    engine_.closeLeg(cl->leg);
  } else if (const auto* dc = std::get_if<core::act::SendDataChannel>(&action)) {
    engine_.sendDataChannel(dc->leg, dc->text);
  }
}

std::optional<core::Input> EndpointBackend::toInput(const endpoint::MediaEvent& ev) {
  if (const auto* d = std::get_if<endpoint::LocalDescription>(&ev)) {
    return core::in::LocalDescription{d->leg, {std::string(endpoint::toString(d->type)), d->sdp}};
  }
  if (const auto* c = std::get_if<endpoint::LocalCandidate>(&ev)) {
    proto::Candidate cand;
    cand.candidate = c->candidate;
    cand.sdp_mid = c->sdp_mid;
    if (c->sdp_mline_index) cand.sdp_mline_index = *c->sdp_mline_index;
    return core::in::LocalCandidate{c->leg, cand};
  }
  if (const auto* g = std::get_if<endpoint::GatheringComplete>(&ev))
    return core::in::GatheringComplete{g->leg};
  if (const auto* s = std::get_if<endpoint::LegState>(&ev)) {
    switch (s->state) {
      case endpoint::ConnectionState::Connected:
        return core::in::MediaStateChanged{s->leg, core::MediaState::Connected};
      case endpoint::ConnectionState::Disconnected:
        return core::in::MediaStateChanged{s->leg, core::MediaState::Disconnected};
      case endpoint::ConnectionState::Failed:
        return core::in::MediaStateChanged{s->leg, core::MediaState::Failed};
      case endpoint::ConnectionState::Closed:
        return core::in::MediaStateChanged{s->leg, core::MediaState::Closed};
      default:
        return std::nullopt;
    }
  }
  if (const auto* n = std::get_if<endpoint::NegotiationNeeded>(&ev))
    return core::in::NegotiationNeeded{n->leg};
  if (const auto* o = std::get_if<endpoint::DataChannelOpen>(&ev)) return core::in::DataChannelOpen{o->leg};
  if (const auto* m = std::get_if<endpoint::DataChannelMessage>(&ev))
    return core::in::DataChannelMessage{m->leg, m->text};
  if (const auto* c = std::get_if<endpoint::DataChannelClosed>(&ev))
    return core::in::DataChannelClosed{c->leg};
  if (const auto* e = std::get_if<endpoint::LegError>(&ev)) {
    // A data-channel hiccup is no failed media command (the engine logged it).
    const bool dc = e->message.rfind("sendDataChannel", 0) == 0 || e->message.rfind("data channel", 0) == 0;
    if (e->leg != 0 && !dc) return core::in::MediaFailed{e->leg, e->message};
  }
  return std::nullopt;
}

}  // namespace chorus::call
