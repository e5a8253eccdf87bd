#include "endpoint/media_event.hpp"

#include "base/overloaded.hpp"

#include <sstream>

namespace chorus::endpoint {

std::string_view toString(MediaKind kind) {
  return kind == MediaKind::Audio ? "audio" : "video";
}

std::string_view toString(StreamPurpose purpose) {
  return purpose == StreamPurpose::UserMedia ? "m.usermedia" : "m.screenshare";
}

std::string_view toString(SdpType type) {
  return type == SdpType::Offer ? "offer" : "answer";
}

std::string_view toString(ConnectionState state) {
  switch (state) {
    case ConnectionState::New:
      return "new";
    case ConnectionState::Connecting:
      return "connecting";
    case ConnectionState::Connected:
      return "connected";
    case ConnectionState::Disconnected:
      return "disconnected";
    case ConnectionState::Failed:
      return "failed";
    case ConnectionState::Closed:
      return "closed";
  }
  return "?";
}

std::optional<SdpType> parseSdpType(std::string_view type) {
  if (type == "offer") return SdpType::Offer;
  if (type == "answer") return SdpType::Answer;
  return std::nullopt;
}

LegId legOf(const MediaEvent& event) {
  return std::visit([](const auto& e) { return e.leg; }, event);
}

std::string describe(const MediaEvent& event) {
  std::ostringstream os;
  os << "leg " << legOf(event) << ": ";
  std::visit(Overloaded{
                 [&](const LocalDescription& e) {
                   os << "LocalDescription " << toString(e.type) << " (" << e.sdp.size() << " bytes)";
                 },
                 [&](const LocalCandidate& e) {
                   os << "LocalCandidate mid=" << e.sdp_mid.value_or("-")
                      << " idx=" << (e.sdp_mline_index ? std::to_string(*e.sdp_mline_index) : "-") << " "
                      << e.candidate;
                 },
                 [&](const GatheringComplete&) { os << "GatheringComplete"; },
                 [&](const LegState& e) { os << "LegState " << toString(e.state); },
                 [&](const NegotiationNeeded&) { os << "NegotiationNeeded"; },
                 [&](const RemoteStream& e) {
                   os << "RemoteStream " << toString(e.kind) << " stream=" << e.stream_id << " mid=" << e.mid;
                 },
                 [&](const LegError& e) { os << "LegError " << e.message; },
                 [&](const DataChannelOpen& e) { os << "DataChannelOpen " << e.label; },
                 [&](const DataChannelMessage& e) {
                   os << "DataChannelMessage (" << e.text.size() << " bytes) " << e.text.substr(0, 80);
                 },
                 [&](const DataChannelClosed&) { os << "DataChannelClosed"; },
             },
             event);
  return os.str();
}

}  // namespace chorus::endpoint
