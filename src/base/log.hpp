#pragma once
// Minimal logging: a level, a tag and a message, to a replaceable sink (stderr by default).
#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace chorus::log {

enum class Level { Trace = 0, Debug, Info, Warn, Error, Off };

using Sink = std::function<void(Level, std::string_view tag, std::string_view message)>;

void setLevel(Level level);
Level level();
bool enabled(Level level);
void setSink(Sink sink);  // nullptr restores the stderr sink
void write(Level level, std::string_view tag, std::string_view message);
// Parses "trace|debug|info|warn|error|off"; returns false on unknown names.
bool parseLevel(std::string_view name, Level& out);

}  // namespace chorus::log

// CHORUS_LOG(Info, "tag", "x=" << x) — the stream expression is only evaluated when the level is enabled.
#define CHORUS_LOG(lvl, tag, expr)                                                \
  do {                                                                            \
    if (::chorus::log::enabled(::chorus::log::Level::lvl)) {                      \
      std::ostringstream chorus_log_os_;                                          \
      chorus_log_os_ << expr;                                                     \
      ::chorus::log::write(::chorus::log::Level::lvl, tag, chorus_log_os_.str()); \
    }                                                                             \
  } while (0)
