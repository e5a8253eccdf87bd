#pragma once
// The power-level parts of the Matrix auth rules, as pure functions over m.room.power_levels content.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "hs/mx_error.hpp"

namespace chorus::hs {

// pl == nullptr means "the room has no m.room.power_levels": the creator has 100, everyone else 0.
std::int64_t userLevel(const boost::json::object* pl, std::string_view user_id, std::string_view creator);
// Level needed to send an event of this type (events[type], else state_default / events_default).
std::int64_t eventLevel(const boost::json::object* pl, std::string_view type, bool is_state);
// Level named by a top-level key (invite, kick, ban, redact) with the spec default.
std::int64_t namedLevel(const boost::json::object* pl, std::string_view key);

// Content type checks for a new m.room.power_levels event: every level must be an integer.
MxStatus validatePowerLevels(const boost::json::object& content);
// Rule 10 of the auth rules: a sender may not grant or remove more power than it has.
MxStatus checkPowerLevelsChange(const boost::json::object* old_pl, const boost::json::object& new_pl,
                                std::string_view sender, std::int64_t sender_level);

// The power levels of a new room (Element's defaults for group calls, see docs/hs.md).
boost::json::object defaultPowerLevels(std::string_view creator);

}  // namespace chorus::hs
