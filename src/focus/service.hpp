#pragma once
// `chorus focus` as a library: the MSC3898 focus process. Two threads:
//   - the Matrix thread runs a matrix::EventLoop: login, /sync (room invites, room state, to-device) and the
//     requests the controller asks for (joins, to-device sends, serialised per target device so seq order
//     holds);
//   - the media thread runs the Boost.Asio io_context of the one UDP port: the sans-IO Controller (who may
//     use the focus, signalling), the Router (forwarding) and one io::WebRtcPeer per participant.
// The threads only talk through posted closures (EventLoop::post / asio::post). Everything the focus learns
// from the network goes through the Controller first.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "focus/service_options.hpp"

namespace chorus::focus {

// Reads a JSON config file into `options` (keys not given keep their values):
//   {"allowed_servers": ["localhost"], "allowed_rooms": ["!id:server"], "max_rooms": 256,
//    "max_conferences": 64, "max_participants_per_conference": 100, "max_data_channel_message": 262144,
//    "ping_interval_s": 30, "pong_timeout_s": 30, "connect_timeout_s": 30,
//    "public_ip": "203.0.113.7" (or an array of addresses), "bind_ip": "0.0.0.0", "udp_port": 3478,
//    "tcp_port": 3478, "ice_tcp": true}
Status applyConfigFile(const std::string& path, ServiceOptions& options);

// Runs until SIGINT/SIGTERM (or stop()); returns the process exit code.
int runFocus(const ServiceOptions& options);

}  // namespace chorus::focus
