#include "focus/service.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "base/log.hpp"
#include "focus/matrix_link.hpp"
#include "focus/media_shell.hpp"
#include "matrix/event_loop.hpp"

namespace chorus::focus {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* kServiceTag = "focus";

}  // namespace

// The most m-lines a description may be configured to have (a 16 MiB SDP).
constexpr std::size_t kMaxMediaSectionsSetting = 4096;

Status applyConfigFile(const std::string& path, ServiceOptions& options) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(Code::InvalidArgument, "cannot open " + path);
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < 1024 * 1024;)
    text.append(buf, n);
  std::fclose(f);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail(Code::InvalidArgument, path + ": not a JSON object");
  const json::object& o = v.as_object();
  auto strings = [&](const char* key, std::vector<std::string>& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_array())
      return fail(Code::InvalidArgument, path + ": " + key + " must be an array of strings");
    out.clear();
    for (const auto& e : x->as_array()) {
      if (!e.is_string())
        return fail(Code::InvalidArgument, path + ": " + key + " must be an array of strings");
      out.emplace_back(e.as_string());
    }
    return {};
  };
  auto number = [&](const char* key, auto& out, double scale) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_number()) return fail(Code::InvalidArgument, path + ": " + key + " must be a number");
    const double d = x->to_number<double>() * scale;
    if (d < 0) return fail(Code::InvalidArgument, path + ": " + key + " must not be negative");
    out = static_cast<std::remove_reference_t<decltype(out)>>(d);
    return {};
  };
  auto text_key = [&](const char* key, std::string& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_string()) return fail(Code::InvalidArgument, path + ": " + key + " must be a string");
    out = std::string(x->as_string());
    return {};
  };
  auto boolean = [&](const char* key, bool& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (!x) return {};
    if (!x->is_bool()) return fail(Code::InvalidArgument, path + ": " + key + " must be true or false");
    out = x->as_bool();
    return {};
  };
  // A string or an array of strings.
  auto public_ips = [&](const char* key, std::vector<std::string>& out) -> Status {
    const json::value* x = o.if_contains(key);
    if (x && x->is_string()) {
      out = {std::string(x->as_string())};
      return {};
    }
    return strings(key, out);
  };
  ControllerConfig& c = options.controller;
  for (Status st :
       {strings("allowed_servers", c.allowed_servers),
        strings("allowed_rooms", c.allowed_rooms),
        number("max_rooms", c.max_rooms, 1),
        number("max_conferences", c.max_conferences, 1),
        number("max_participants_per_conference", c.max_participants_per_conference, 1),
        number("max_data_channel_message", c.max_data_channel_message, 1),
        number("ping_interval_s", c.ping_interval_ms, 1000),
        number("pong_timeout_s", c.pong_timeout_ms, 1000),
        number("connect_timeout_s", c.connect_timeout_ms, 1000),
        number("metadata_interval_ms", c.metadata_interval_ms, 1),
        number("metadata_interval_per_participant_ms", c.metadata_interval_per_participant_ms, 1),
        number("metadata_deltas_from", c.metadata_deltas_from, 1),
        number("max_media_sections", options.max_media_sections, 1),
        number("max_to_device_bytes", c.max_to_device_bytes, 1),
        number("max_subscriptions_per_subscriber", options.router.max_subscriptions_per_subscriber, 1),
        number("audio_slots", options.router.audio_slots, 1),
        public_ips("public_ip", options.public_ips),
        text_key("bind_ip", options.bind_ip),
        number("udp_port", options.udp_port, 1),
        number("tcp_port", options.tcp_port, 1),
        boolean("ice_tcp", options.ice_tcp),
        boolean("udp_gso", options.udp_gso),
        number("rx_coalesce_ms", options.rx_coalesce_ms, 1)}) {
    if (!st) return st;
  }
  if (options.router.audio_slots > kMaxMediaSectionsSetting)
    return fail(Code::InvalidArgument,
                path + ": audio_slots must be at most " + std::to_string(kMaxMediaSectionsSetting));
  if (options.max_media_sections > kMaxMediaSectionsSetting)
    return fail(Code::InvalidArgument,
                path + ": max_media_sections must be at most " + std::to_string(kMaxMediaSectionsSetting));
  // Conferences of rooms the focus has not joined (docs/focus.md).
  std::string unjoined;
  for (Status st :
       {text_key("unjoined_rooms", unjoined), strings("unjoined_allowed_servers", c.unjoined_allowed_servers),
        number("max_unjoined_per_user", c.max_unjoined_per_user, 1),
        number("max_unjoined_per_server", c.max_unjoined_per_server, 1)}) {
    if (!st) return st;
  }
  if (!unjoined.empty()) {
    auto policy = parseUnjoinedRooms(unjoined);
    if (!policy)
      return fail(Code::InvalidArgument, path + ": unjoined_rooms must be off, own-server or allow-list");
    c.unjoined_rooms = *policy;
  }
  return {};
}

int runFocus(const ServiceOptions& options) {
  asio::io_context io;
  matrix::EventLoop mloop;
  std::atomic<int> exit_code{0};

  MediaShell* plane_ptr = nullptr;
  MatrixLink link(mloop, options,
                  MatrixLink::Sink{
                      [&](Input i) {
                        asio::post(io, [&, i = std::move(i)]() mutable { plane_ptr->feed(std::move(i)); });
                      },
                      [&](const std::string& u, const std::string& d, const std::string& k) {
                        asio::post(io, [&, u, d, k] { plane_ptr->loggedIn(u, d, k); });
                      },
                      [&](const std::string& error) {
                        CHORUS_LOG(Error, kServiceTag, error);
                        exit_code = 1;
                        io.stop();
                      },
                  });
  MediaShell plane(io, options, mloop, link);
  plane_ptr = &plane;
  if (auto st = plane.start(); !st) {
    CHORUS_LOG(Error, kServiceTag, "cannot start the media plane: " << st.error().message);
    return 1;
  }
  std::thread matrix_thread([&] {
    mloop.post([&] { link.start(); });
    mloop.run();
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer drain(io);
  std::atomic<bool> link_idle{false};
  std::function<void(std::chrono::steady_clock::time_point)> wait_drained =
      [&](std::chrono::steady_clock::time_point until) {
        mloop.post([&] { link_idle = link.idle(); });
        drain.expires_after(std::chrono::milliseconds(50));
        drain.async_wait([&, until](boost::system::error_code ec) {
          if (!ec && !link_idle && std::chrono::steady_clock::now() < until) return wait_drained(until);
          io.stop();
        });
      };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    plane.shutdown();
    // Let the hangups go out (at most 3 s), then stop both loops.
    mloop.post([&] { link.stopSync(); });
    wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(3));
  });
  io.run();
  mloop.stop();
  matrix_thread.join();
  return exit_code.load();
}

}  // namespace chorus::focus
