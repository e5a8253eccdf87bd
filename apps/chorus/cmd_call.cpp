// `chorus call`: flags only; the participant lives in src/call.
#include <cstdlib>
#include <memory>

#include "apps/chorus/commands.hpp"
#include "call/participant.hpp"

namespace chorus::app {

void registerCall(CLI::App& app, Runner* runner) {
  auto opt = std::make_shared<call::ParticipantOptions>();
  auto* cmd =
      app.add_subcommand("call", "Join a room's group call as a native participant with audio and video");
  cmd->add_option("--homeserver", opt->homeserver, "homeserver base URL, e.g. http://127.0.0.1:8008")
      ->required();
  cmd->add_option("--user", opt->user, "user (localpart or MXID)")->required();
  cmd->add_option("--password", opt->password, "password (or use --access-token)");
  cmd->add_option("--access-token", opt->access_token, "access token instead of a password");
  cmd->add_option("--device-id", opt->device_id, "device id to log in as (default: a new device)");
  cmd->add_option("--room", opt->room, "room id or alias (joined if needed)")->required();
  cmd->add_flag("--create", opt->create, "create the group call if the room has none");
  cmd->add_option("--duration", opt->duration_s,
                  "leave after this many seconds (default: on SIGINT/SIGTERM)");
  cmd->add_flag("--json", opt->json, "print JSON lines (ends with a summary line) instead of the live view");
  cmd->add_flag("--mute-audio", opt->mute_audio, "start with the microphone muted");
  cmd->add_flag("--mute-video", opt->mute_video, "start with the camera muted");
  cmd->add_flag("--screenshare", opt->screenshare, "also publish a screenshare feed");
  cmd->add_option("--audio-source", opt->audio_source, "test | device | FILE")->capture_default_str();
  cmd->add_option("--video-source", opt->video_source, "test | device | FILE")->capture_default_str();
  cmd->add_option("--width", opt->width, "video width")->capture_default_str();
  cmd->add_option("--height", opt->height, "video height")->capture_default_str();
  cmd->add_option("--fps", opt->fps, "video frame rate")->capture_default_str();
  cmd->add_option_function<std::string>(
      "--video-label", [opt](const std::string& text) { opt->video_label = text; },
      "text drawn on the test video pattern (default: your user id; \"\" for none)");
  cmd->add_flag("--legacy-leg-setup", opt->legacy_leg_setup,
                "the media engine's old leg setup, for comparison in benchmarks")
      ->group("");
  cmd->add_flag("--send-h264", opt->send_h264,
                "send video as H.264 (openh264enc; offered alone, so peers must take H.264) instead of VP8");
  cmd->add_flag("--loopback-only", opt->loopback_only, "gather only 127.0.0.1 ICE candidates (local tests)");
  cmd->add_flag("--relay-only", opt->relay_only,
                "use only TURN relays from the homeserver's /voip/turnServer");
  cmd->add_flag("!--no-delayed-events", opt->use_delayed_events, "do not use MSC4140 delayed events");
  cmd->add_flag("!--no-commands", opt->read_commands, "do not read commands from stdin");
  cmd->add_option("--stats-interval", opt->stats_interval_s, "seconds between stats updates")
      ->capture_default_str();
  cmd->add_option(
      "--focus", opt->focus_user,
      "MSC3898 focus (SFU) user to call instead of the full mesh, e.g. @focus:localhost (default: the "
      "focus another participant is active on, else full mesh)");
  cmd->add_option("--focus-device", opt->focus_device, "the focus's device id")->capture_default_str();
  cmd->add_flag("!--no-auto-focus", opt->adopt_focus,
                "without --focus, do not use the focus other participants are on (stay full mesh)");
  cmd->add_option("--max-video-tiles", opt->max_video_tiles,
                  "focus mode: video tracks to subscribe at once (audio: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--subscribe-width", opt->subscribe_width, "focus mode: video width to ask the focus for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--subscribe-height", opt->subscribe_height,
                  "focus mode: video height to ask the focus for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-mesh-peers", opt->max_mesh_peers,
                  "focus mode: mesh legs (one uplink each) with participants that use no focus, e.g. "
                  "matrix-js-sdk 28.1.0; beyond it their invites are rejected (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--no-e2ee", opt->e2ee,
                "no Olm: upload no keys, read no m.room.encrypted, send call signalling in plaintext even in "
                "encrypted rooms (docs/e2ee.md)");
  cmd->add_option("--data", opt->data_dir,
                  "directory for the Olm state (account and sessions, encrypted at rest with DIR/olm.key or "
                  "$CHORUS_OLM_PASSPHRASE); default: kept in memory only");
  cmd->callback([opt, runner, cmd] {
    if (const char* pass = std::getenv("CHORUS_OLM_PASSPHRASE"); pass && *pass) opt->olm_passphrase = pass;
    if (opt->password.empty() && opt->access_token.empty()) {
      throw CLI::ValidationError("--password", "give --password or --access-token");
    }
    if (!opt->focus_user.empty() &&
        (opt->focus_user[0] != '@' || opt->focus_user.find(':') == std::string::npos)) {
      throw CLI::ValidationError("--focus", "expected a user id like @focus:localhost");
    }
    if (opt->focus_device.empty()) throw CLI::ValidationError("--focus-device", "must not be empty");
    (void)cmd;
    *runner = [opt] { return call::runParticipant(*opt); };
  });
}

}  // namespace chorus::app
