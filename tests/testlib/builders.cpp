#include "testlib/builders.hpp"

#include "proto/event_types.hpp"

namespace chorus::testlib {

core::StateEvent joinEvent(const std::string& user, TimeMs ts) {
  return core::StateEvent{"m.room.member", user, user, "$join" + user, ts, {{"membership", "join"}}};
}

core::StateEvent callEvent(const std::string& call_id, const std::string& sender, TimeMs ts,
                           bool terminated) {
  boost::json::object c{{"m.intent", "m.prompt"}, {"m.type", "m.video"}};
  if (terminated) c["m.terminated"] = "call_ended";
  return core::StateEvent{std::string(proto::kCallEventType), call_id, sender, "$call" + call_id, ts, c};
}

core::StateEvent memberEvent(const std::string& user, const std::string& call_id,
                             const std::vector<DeviceSpec>& devices, TimeMs ts) {
  boost::json::array devs;
  for (const auto& d : devices) {
    devs.push_back(boost::json::object{{"device_id", d.device_id},
                                       {"session_id", d.session_id},
                                       {"expires_ts", d.expires_ts},
                                       {"feeds", boost::json::array{{{"purpose", "m.usermedia"}}}}});
  }
  boost::json::object content{
      {"m.calls", boost::json::array{boost::json::object{{"m.call_id", call_id}, {"m.devices", devs}}}}};
  return memberEventRaw(user, std::move(content), ts);
}

core::StateEvent memberEventRaw(const std::string& user, boost::json::object content, TimeMs ts) {
  return core::StateEvent{
      std::string(proto::kCallMemberEventType), user, user, "$member" + user, ts, std::move(content)};
}

boost::json::object signal(const std::string& call_id, const std::string& conf_id,
                           const std::string& device_id, const std::string& sender_session,
                           const std::string& dest_session, std::uint64_t seq) {
  return boost::json::object{{"call_id", call_id},
                             {"party_id", device_id},
                             {"version", "1"},
                             {"conf_id", conf_id},
                             {"device_id", device_id},
                             {"sender_session_id", sender_session},
                             {"dest_session_id", dest_session},
                             {"seq", seq}};
}

}  // namespace chorus::testlib
