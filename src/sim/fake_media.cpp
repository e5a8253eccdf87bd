#include "sim/fake_media.hpp"

#include "base/overloaded.hpp"

namespace chorus::sim {

std::vector<core::Input> FakeMedia::takeResults() {
  auto out = std::move(results_);
  results_.clear();
  return out;
}

const FakeLeg* FakeMedia::legTo(const std::string& user, const std::string& device) const {
  const FakeLeg* any = nullptr;
  for (const auto& [id, leg] : legs_) {
    if (leg.peer_user != user || leg.peer_device != device) continue;
    if (leg.connected) return &leg;
    any = &leg;
  }
  return any;
}

void FakeMedia::makeLocal(core::LegId id, FakeLeg& leg, const std::string& type, bool fresh_candidates) {
  ++leg.versions;
  leg.local_sdp = "v=0 fake " + type + " from " + who_ + " leg " + std::to_string(id) + " v" +
                  std::to_string(leg.versions);
  if (!leg.remote_sdp.empty() && leg.descriptions_complete_at == 0)
    leg.descriptions_complete_at = clock_.nowMs();
  results_.push_back(core::in::LocalDescription{id, proto::SessionDescription{type, leg.local_sdp}});
  if (fresh_candidates) {
    proto::Candidate cand;
    cand.candidate =
        "candidate:1 1 udp 2122260223 127.0.0.1 " + std::to_string(40000 + id % 20000) + " typ host";
    cand.sdp_mid = "0";
    cand.sdp_mline_index = 0;
    results_.push_back(core::in::LocalCandidate{id, cand});
    results_.push_back(core::in::GatheringComplete{id});
  }
}

void FakeMedia::checkConnected(core::LegId id, FakeLeg& leg) {
  if (!leg.connected && !leg.failed && !leg.local_sdp.empty() && !leg.remote_sdp.empty() &&
      leg.remote_candidates > 0) {
    leg.connected = true;
    results_.push_back(core::in::MediaStateChanged{id, core::MediaState::Connected});
  }
}

void FakeMedia::execute(const core::Action& action) {
  std::visit(Overloaded{
                 [&](const core::act::CreateLeg& a) {
                   FakeLeg leg;
                   leg.peer_user = a.user_id;
                   leg.peer_device = a.device_id;
                   leg.outgoing = a.outgoing;
                   leg.media_enabled = a.media_enabled;
                   legs_[a.leg] = leg;
                 },
                 [&](const core::act::CreateOffer& a) {
                   auto it = legs_.find(a.leg);
                   if (it != legs_.end())
                     makeLocal(a.leg, it->second, "offer", it->second.versions == 0 || a.ice_restart);
                 },
                 [&](const core::act::CreateAnswer& a) {
                   auto it = legs_.find(a.leg);
                   if (it != legs_.end()) makeLocal(a.leg, it->second, "answer", it->second.versions == 0);
                 },
                 [&](const core::act::SetRemoteDescription& a) {
                   auto it = legs_.find(a.leg);
                   if (it == legs_.end()) return;
                   it->second.remote_sdp = a.description.sdp;
                   if (!it->second.local_sdp.empty() && it->second.descriptions_complete_at == 0) {
                     it->second.descriptions_complete_at = clock_.nowMs();
                   }
                   checkConnected(a.leg, it->second);
                 },
                 [&](const core::act::AddRemoteCandidates& a) {
                   auto it = legs_.find(a.leg);
                   if (it == legs_.end()) return;
                   for (const auto& cand : a.candidates) {
                     if (cand.candidate.empty()) {
                       it->second.remote_end_of_candidates = true;
                     } else {
                       ++it->second.remote_candidates;
                     }
                   }
                   checkConnected(a.leg, it->second);
                 },
                 [&](const core::act::SetLegMediaEnabled& a) {
                   auto it = legs_.find(a.leg);
                   if (it != legs_.end()) it->second.media_enabled = a.enabled;
                 },
                 [&](const core::act::CloseLeg& a) { legs_.erase(a.leg); },
                 [&](const auto&) {},
             },
             action);
}

void FakeMedia::tick() {
  const TimeMs now = clock_.nowMs();
  for (auto& [id, leg] : legs_) {
    if (!leg.connected && !leg.failed && leg.descriptions_complete_at != 0 &&
        now - leg.descriptions_complete_at > kIceFailAfterMs) {
      leg.failed = true;
      results_.push_back(core::in::MediaStateChanged{id, core::MediaState::Failed});
    }
  }
}

void FakeMedia::peerGone(const std::string& user, const std::string& device) {
  for (auto& [id, leg] : legs_) {
    if (leg.peer_user == user && leg.peer_device == device) {
      leg.connected = false;
      leg.failed = true;  // no remote candidates will come: don't also report a fake ICE failure
      results_.push_back(core::in::MediaStateChanged{id, core::MediaState::Disconnected});
    }
  }
}

}  // namespace chorus::sim
