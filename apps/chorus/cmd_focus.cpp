// `chorus focus`: flags only; the focus lives in src/focus.
#include <cstdlib>
#include <memory>

#include "apps/chorus/commands.hpp"
#ifdef CHORUS_FOCUS_SERVICE
#include "focus/service.hpp"

namespace chorus::app {

void registerFocus(CLI::App& app, Runner* runner) {
  auto opt = std::make_shared<focus::ServiceOptions>();
  auto config = std::make_shared<std::string>();
  auto unjoined = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("focus", "Run an MSC3898 focus (SFU) as a Matrix device");
  cmd->add_option("--homeserver", opt->homeserver, "homeserver base URL, e.g. http://127.0.0.1:8008")
      ->required();
  cmd->add_option("--user", opt->user, "the focus's user (localpart or MXID)")->required();
  cmd->add_option("--password", opt->password, "password (or use --access-token)");
  cmd->add_option("--access-token", opt->access_token, "access token instead of a password");
  cmd->add_option("--device-id", opt->device_id, "device id to log in as")->capture_default_str();
  cmd->add_option("--udp-port", opt->udp_port, "the one UDP port for all media (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--tcp-port", opt->tcp_port,
                  "the one TCP port for ICE-TCP (passive TCP candidates on the same addresses, for networks "
                  "that block UDP; 0: any free port)")
      ->capture_default_str();
  cmd->add_flag_function(
      "--no-ice-tcp", [opt](std::int64_t) { opt->ice_tcp = false; }, "no TCP candidates (UDP only)");
  cmd->add_flag_function(
      "--no-downlink-cc", [opt](std::int64_t) { opt->downlink_cc = false; },
      "no downlink congestion control: layers by requested size only (docs/congestion-control.md)");
  cmd->add_flag_function(
      "--no-uplink-cc", [opt](std::int64_t) { opt->uplink_cc = false; },
      "no transport-cc feedback to publishers: their estimates grow from receiver reports alone "
      "(docs/congestion-control.md)");
  cmd->add_flag_function(
      "--no-rtx", [opt](std::int64_t) { opt->rtx = false; },
      "no RTX (RFC 4588) with participants: retransmissions on the media SSRC, publishers' RTX not "
      "negotiated (docs/congestion-control.md)");
  cmd->add_flag_function(
      "--rtx", [opt](std::int64_t) { opt->rtx = true; },
      "negotiate RTX (RFC 4588) with participants, the default: retransmissions on an RTX SSRC, publishers' "
      "RTX unwrapped (docs/congestion-control.md)");
  cmd->add_flag_function(
      "--no-publisher-cap", [opt](std::int64_t) { opt->router.publisher_cap_interval_ms = 0; },
      "no send caps (REMB) to publishers: they send every simulcast layer whether anyone receives it or not "
      "(docs/congestion-control.md)");
  cmd->add_option("--rx-coalesce-ms", opt->rx_coalesce_ms,
                  "under load, read the media port every this many ms instead of on each datagram: fewer "
                  "wake-ups for up to this much added delay (docs/focus.md; 0: off)")
      ->capture_default_str();
  cmd->add_option("--bind", opt->bind_ip,
                  "address to bind the media port to (default: every IPv4 and IPv6 address; each usable "
                  "one is advertised, non-loopback first)");
  cmd->add_option("--public-ip", opt->public_ips,
                  "address advertised to participants instead of the local ones (1:1 NAT; repeatable)");
  cmd->add_option("--config", *config,
                  "JSON config file (allow-lists, limits, keepalive; see docs/focus.md)");
  cmd->add_option("--allow-server", opt->controller.allowed_servers,
                  "accept room invites only from rooms on this server (repeatable)");
  cmd->add_option("--allow-room", opt->controller.allowed_rooms,
                  "accept invites only to this room (repeatable)");
  cmd->add_option("--unjoined-rooms", *unjoined,
                  "conferences of rooms the focus has not joined (clients that name it but never invite it): "
                  "off, own-server (default: senders of the focus's homeserver) or allow-list "
                  "(senders of the --unjoined-allow-server servers); see docs/focus.md")
      ->check(CLI::IsMember({"off", "own-server", "allow-list"}));
  cmd->add_option("--unjoined-allow-server", opt->controller.unjoined_allowed_servers,
                  "with --unjoined-rooms allow-list: serve senders of this homeserver (repeatable)");
  cmd->add_option("--max-unjoined-per-user", opt->controller.max_unjoined_per_user,
                  "concurrent sessions of one user in conferences of rooms the focus has not joined")
      ->capture_default_str();
  cmd->add_option("--max-unjoined-per-server", opt->controller.max_unjoined_per_server,
                  "concurrent sessions of one homeserver's users in conferences of rooms the focus has not "
                  "joined")
      ->capture_default_str();
  cmd->add_flag(
      "!--no-e2ee", opt->e2ee,
      "no Olm: upload no keys, read no m.room.encrypted, answer in plaintext even in encrypted rooms "
      "(docs/e2ee.md)");
  cmd->add_option("--data", opt->data_dir,
                  "directory for the Olm state (account and sessions, encrypted at rest with DIR/olm.key or "
                  "$CHORUS_OLM_PASSPHRASE), so a restart keeps the focus's identity keys; default: kept in "
                  "memory only");
  cmd->add_flag("--json", opt->json, "JSON lines on stdout: ready, periodic stats, summary");
  cmd->add_option("--stats-interval", opt->stats_interval_s, "seconds between stats lines (0: none)")
      ->capture_default_str();
  cmd->callback([opt, config, unjoined, runner] {
    if (const char* pass = std::getenv("CHORUS_OLM_PASSPHRASE"); pass && *pass) opt->olm_passphrase = pass;
    if (opt->password.empty() && opt->access_token.empty()) {
      throw CLI::ValidationError("--password", "give --password or --access-token");
    }
    if (!unjoined->empty()) opt->controller.unjoined_rooms = *focus::parseUnjoinedRooms(*unjoined);
    if (!config->empty()) {
      if (auto st = focus::applyConfigFile(*config, *opt); !st) {
        throw CLI::ValidationError("--config", st.error().message);
      }
    }
    if (auto err = focus::checkUnjoinedRooms(opt->controller); !err.empty()) {
      throw CLI::ValidationError("--unjoined-rooms", err);
    }
    *runner = [opt] { return focus::runFocus(*opt); };
  });
}

}  // namespace chorus::app
#endif  // CHORUS_FOCUS_SERVICE
