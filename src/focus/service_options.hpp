#pragma once
// What `chorus focus` is started with (flags and the --config file, apps/chorus/cmd_focus.cpp), shared by the
// process's parts: focus/matrix_link (the Matrix side), focus/media_shell (ports, timers, stats) and
// focus/service (the wiring).
#include <cstdint>
#include <string>
#include <vector>

#include "focus/controller.hpp"
#include "focus/router.hpp"
#include "io/sdp.hpp"

namespace chorus::focus {

inline constexpr const char* kDefaultFocusDeviceId = "CHORUSFOCUS";

struct ServiceOptions {
  std::string homeserver;  // base URL
  std::string user;        // localpart or MXID (with password), or the user id that goes with access_token
  std::string password;
  std::string access_token;
  std::string device_id{kDefaultFocusDeviceId};
  // "" (default): every address, IPv4 and IPv6 (a dual-stack socket, or IPv4 only where the machine has no
  // IPv6); "0.0.0.0" / "::" wildcards of one family; else one concrete address, the only one advertised.
  std::string bind_ip;
  std::uint16_t udp_port{0};  // 0 = ephemeral (tests)
  // ICE-TCP (RFC 6544): passive TCP candidates on one TCP port, on the same addresses as the UDP ones, for
  // participants whose network blocks UDP. On by default (like mediasoup's enableTcp); 0 = ephemeral.
  bool ice_tcp{true};
  std::uint16_t tcp_port{0};
  // UDP GSO (io::UdpServer::setGso): equal-sized datagrams to one participant leave as one send. Off: one
  // datagram per message (for comparison, or a NIC driver that mishandles it; the kernel's refusal turns it
  // off by itself).
  bool udp_gso{true};
  // Receive coalescing (io::UdpServer::setReceiveCoalescing): under load the media port is read every this
  // many milliseconds instead of on each datagram; 0 = a wake-up per datagram burst.
  std::uint32_t rx_coalesce_ms{0};
  // Downlink congestion control (docs/congestion-control.md): number what each participant receives and pick
  // its layers from its transport-cc feedback. Off: layers by requested size only (for comparison).
  bool downlink_cc{true};
  // Uplink transport-cc: negotiate the transport-wide numbers with publishers and send them feedback, so
  // their send-side estimate runs on it (docs/congestion-control.md). Off: publishers' estimates grow from
  // the loss in our receiver reports alone (for comparison).
  bool uplink_cc{true};
  // RTX (RFC 4588) with participants, both ways (docs/congestion-control.md). Off (`--no-rtx`): NACKs are
  // answered on the media SSRC and publishers' RTX is not negotiated.
  bool rtx{true};
  // Advertised instead of the local addresses (a host behind 1:1 NAT, like mediasoup's announced address).
  // Default: the bind address; with a wildcard bind every usable interface address, non-loopback first
  // (io/local_addresses.hpp), read again for each description.
  std::vector<std::string> public_ips;
  ControllerConfig controller;  // allow-lists, limits, keepalive (user/device are filled in from the login)
  // audio_slots is 16 here (0 in RouterConfig): past 16 audio tracks a participant receives the loudest 16 on
  // fixed streams (docs/focus.md, "Audio slots"); `audio_slots` in the --config file, 0 turns it off.
  RouterConfig router = [] {
    RouterConfig c;
    c.audio_slots = 16;
    return c;
  }();
  // The most m-lines in a participant's description (one per track the focus forwards to it, plus what it
  // sends and the data channel); the size bound grows with it (io::SdpLimits::forSections). Keep
  // router.max_subscriptions_per_subscriber a few below it (docs/focus.md, "Audio-only").
  std::size_t max_media_sections{io::kSdpMaxMediaSections};
  // Olm-encrypted call signalling (docs/e2ee.md), as in `chorus call`: keys uploaded, m.room.encrypted
  // to-device decrypted, replies Olm-encrypted in rooms with m.room.encryption to devices with keys. data_dir
  // empty: the account lives in memory only (new identity keys each run); else DIR/olm-<user>_<device>.state,
  // encrypted at rest with DIR/olm.key or a key derived from olm_passphrase.
  bool e2ee{true};
  std::string data_dir;
  std::string olm_passphrase;
  bool json{false};            // JSON lines on stdout (ready, stats, summary) instead of log lines
  double stats_interval_s{5};  // 0 = no periodic stats
};

}  // namespace chorus::focus
