#pragma once
// Builders for the events tests feed into core.
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/types.hpp"

namespace chorus::testlib {

// Where the call tests' fake clocks start (Nov 2023, in ms) and an hour: shared so that the test files of one
// unity batch (tests/CMakeLists.txt) do not each define them.
inline constexpr TimeMs kStart = 1'700'000'000'000;
inline constexpr TimeMs kHour = 3'600'000;

struct DeviceSpec {
  std::string device_id;
  std::string session_id;
  TimeMs expires_ts;
};

core::StateEvent joinEvent(const std::string& user, TimeMs ts = 1);
core::StateEvent callEvent(const std::string& call_id, const std::string& sender, TimeMs ts,
                           bool terminated = false);
core::StateEvent memberEvent(const std::string& user, const std::string& call_id,
                             const std::vector<DeviceSpec>& devices, TimeMs ts = 1);
core::StateEvent memberEventRaw(const std::string& user, boost::json::object content, TimeMs ts = 1);

// Content of a to-device m.call.* message with all group fields.
boost::json::object signal(const std::string& call_id, const std::string& conf_id,
                           const std::string& device_id, const std::string& sender_session,
                           const std::string& dest_session, std::uint64_t seq);

// Finds actions of one kind (in any vector of action variants).
template <typename T, typename Actions>
std::vector<T> actionsOf(const Actions& actions) {
  std::vector<T> out;
  for (const auto& a : actions) {
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  }
  return out;
}

}  // namespace chorus::testlib
