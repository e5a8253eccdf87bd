#include "base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace chorus::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Warn)};
std::mutex g_mutex;
Sink g_sink;

const char* levelName(Level l) {
  switch (l) {
    case Level::Trace:
      return "TRACE";
    case Level::Debug:
      return "DEBUG";
    case Level::Info:
      return "INFO";
    case Level::Warn:
      return "WARN";
    case Level::Error:
      return "ERROR";
    case Level::Off:
      return "OFF";
  }
  return "?";
}
}  // namespace

void setLevel(Level l) {
  g_level.store(static_cast<int>(l));
}
Level level() {
  return static_cast<Level>(g_level.load());
}
bool enabled(Level l) {
  return static_cast<int>(l) >= g_level.load() && l != Level::Off;
}

void setSink(Sink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = std::move(sink);
}

void write(Level l, std::string_view tag, std::string_view message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(l, tag, message);
    return;
  }
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  std::fprintf(stderr, "%lld.%03lld %-5s [%.*s] %.*s\n", static_cast<long long>(ms / 1000),
               static_cast<long long>(ms % 1000), levelName(l), static_cast<int>(tag.size()), tag.data(),
               static_cast<int>(message.size()), message.data());
}

bool parseLevel(std::string_view name, Level& out) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::Trace}, {"debug", Level::Debug}, {"info", Level::Info},
      {"warn", Level::Warn},   {"error", Level::Error}, {"off", Level::Off}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      out = l;
      return true;
    }
  }
  return false;
}

}  // namespace chorus::log
