// libFuzzer target: arbitrary to-device messages into a GroupCall that is in a call with two peers. Exercises
// parsing, the receive filters, seq reordering and the per-leg machines; the bounds must hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/group_call.hpp"
#include "proto/json_util.hpp"

using namespace chorus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const char* kTypes[] = {
      "m.call.invite", "m.call.candidates", "m.call.answer", "m.call.select_answer",
      "m.call.reject", "m.call.negotiate",  "m.call.hangup", "org.matrix.call.sdp_stream_metadata_changed"};
  FakeClock clock(1'700'000'000'000);
  FakeRng rng(1);
  core::CallConfig cfg;
  cfg.user_id = "@bob:hs";
  cfg.device_id = "BOB";
  cfg.session_id = "bobS";
  cfg.seq.max_keys = 16;
  cfg.seq.max_total_bytes = 64 * 1024;
  core::GroupCall call(cfg, clock, rng);
  auto member = [](const std::string& user, const std::string& dev, const std::string& sess) {
    boost::json::object d{{"device_id", dev},
                          {"session_id", sess},
                          {"expires_ts", 1'700'003'600'000},
                          {"feeds", boost::json::array{}}};
    return core::StateEvent{"org.matrix.msc3401.call.member",
                            user,
                            user,
                            "$m",
                            2,
                            {{"m.calls", boost::json::array{boost::json::object{
                                             {"m.call_id", "conf"}, {"m.devices", boost::json::array{d}}}}}}};
  };
  (void)call.handle(core::in::StateChanged{{
      {"m.room.member", "@alice:hs", "@alice:hs", "$a", 1, {{"membership", "join"}}},
      {"m.room.member", "@bob:hs", "@bob:hs", "$b", 1, {{"membership", "join"}}},
      {"m.room.member", "@carol:hs", "@carol:hs", "$c", 1, {{"membership", "join"}}},
      {"org.matrix.msc3401.call",
       "conf",
       "@alice:hs",
       "$call",
       1,
       {{"m.intent", "m.prompt"}, {"m.type", "m.video"}}},
      member("@alice:hs", "A", "aS"),
      member("@carol:hs", "C", "cS"),
  }});
  (void)call.handle(core::in::Enter{});
  // Each input: 1 byte type + 1 byte sender + 2 bytes length + JSON.
  std::size_t pos = 0;
  while (pos + 4 <= size) {
    const char* type = kTypes[data[pos] % 8];
    const char* sender = (data[pos + 1] & 1) ? "@alice:hs" : "@carol:hs";
    const std::size_t len = std::min<std::size_t>((data[pos + 2] << 8) | data[pos + 3], size - pos - 4);
    auto obj = proto::parseJsonObject(std::string_view(reinterpret_cast<const char*>(data + pos + 4), len));
    pos += 4 + len;
    if (obj)
      (void)call.handle(core::in::ToDeviceReceived{core::ToDeviceMessage{type, sender, std::move(*obj)}});
    clock.advance(1'000);
    (void)call.handle(core::in::Tick{});
    if (call.seqReorderer().bufferedBytes() > cfg.seq.max_total_bytes) __builtin_trap();
    if (call.seqReorderer().keyCount() > cfg.seq.max_keys) __builtin_trap();
    if (call.legs().size() > cfg.max_legs) __builtin_trap();
  }
  return 0;
}
