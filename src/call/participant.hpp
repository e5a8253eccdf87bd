#pragma once
// `chorus call`: joins a room's group call on any homeserver as a native participant with real media, shows a
// live view (or JSON lines) and leaves cleanly on SIGINT/SIGTERM, at --duration, or on a `leave` command.
#include <optional>
#include <string>

namespace chorus::call {

struct ParticipantOptions {
  std::string homeserver;  // base URL, e.g. http://127.0.0.1:8008
  std::string user;        // localpart or MXID (with password), or the user id that goes with access_token
  std::string password;
  std::string access_token;
  std::string device_id;  // optional: reuse a device
  std::string room;       // room id or alias
  bool create{false};     // create the group call if the room has none
  double duration_s{0};   // 0: until a signal
  bool json{false};       // JSON lines instead of the terminal view
  bool mute_audio{false};
  bool mute_video{false};
  bool screenshare{false};
  std::string audio_source{"test"};
  std::string video_source{"test"};
  int width{640};
  int height{360};
  int fps{30};
  // The text on the "test" video pattern, so people can tell participants apart: nullopt = our user id,
  // "" = none.
  std::optional<std::string> video_label;
  // The media engine's old leg setup (`chorus bench call` compares; MediaConfig::legacy_leg_setup).
  bool legacy_leg_setup{false};
  bool loopback_only{false};      // gather only 127.0.0.1 candidates (tests, local demos)
  bool relay_only{false};         // use only TURN relay candidates (from /voip/turnServer)
  bool send_h264{false};          // send video as H.264 only (MediaConfig::send_h264); VP8 otherwise
  bool use_delayed_events{true};  // MSC4140 when the homeserver has it
  bool read_commands{true};       // read commands from stdin: mute-audio, unmute-audio, mute-video, ...
  double stats_interval_s{1.0};
  // Focus mode (MSC3898). focus_user empty: adopt another member's active focus when entering (unless
  // !adopt_focus), else full mesh.
  std::string focus_user;
  std::string focus_device{"CHORUSFOCUS"};
  bool adopt_focus{true};
  int max_video_tiles{9};    // video tracks subscribed from the focus at once
  int subscribe_width{640};  // the size asked for per video track
  int subscribe_height{360};
  // Mixed calls: in focus mode, mesh legs with devices that use no focus, at most this many (0: none).
  int max_mesh_peers{8};
  // Olm-encrypted call signalling (docs/e2ee.md): keys uploaded, encrypted to-device read, and m.call.* sent
  // encrypted in rooms with m.room.encryption. data_dir: where the Olm state is kept (encrypted at rest with
  // the key in data_dir/olm.key, made 0600, or with a key derived from olm_passphrase); empty: in memory
  // only.
  bool e2ee{true};
  std::string data_dir;
  std::string olm_passphrase;
};

// Runs until done; returns the process exit code.
int runParticipant(const ParticipantOptions& options);

}  // namespace chorus::call
