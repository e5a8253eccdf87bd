#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "core/seq_reorderer.hpp"
#include "proto/member_event.hpp"

namespace chorus::core {

// Defaults follow matrix-js-sdk 28.1.0 (msc3401.md Appendix A).
struct CallConfig {
  std::string user_id;
  std::string device_id;
  std::string session_id;  // random per client session

  TimeMs member_validity_ms{3'600'000};  // expires_ts = now + this
  TimeMs member_refresh_ms{2'700'000};   // rewrite our member event this often (3/4 of validity)
  TimeMs invite_lifetime_ms{60'000};     // invite `lifetime`; unanswered invites time out after it
  TimeMs retry_interval_ms{5'000};       // the retry loop
  int max_retries{3};                    // per (user, device, session)
  TimeMs caller_candidate_batch_ms{2'000};
  TimeMs callee_candidate_batch_ms{500};
  TimeMs ice_restart_after_ms{2'000};          // disconnected this long: ICE restart (caller side)
  TimeMs ice_disconnected_timeout_ms{30'000};  // disconnected this long: hang up ice_failed
  // When the media stack cannot restart ICE (GStreamer 1.22 webrtcbin keeps its ICE credentials), the caller
  // recovers a disconnected leg by hanging it up (ice_failed) and placing a new call at once instead.
  bool ice_restart_by_new_call{false};
  std::size_t max_legs{256};
  std::size_t max_legs_per_user{32};  // a hostile member cannot take the leg cap from everyone else
  // An invite from a device that is not (yet) a participant (no member event of this call naming that device
  // with that session) gets no leg and no media: it is held this long for the member event that makes it one
  // (js-sdk may send it before its member event reaches us), then answered as usual, or rejected (issue #10:
  // fake invites from any room member built a media pipeline each).
  TimeMs invite_grace_ms{10'000};
  // Invites beyond these are dropped unanswered (only expiry answers, with m.call.reject: bounded in rate).
  std::size_t max_held_invites{64};          // in total; a full hold evicts from the user holding the most
  std::size_t max_held_invites_per_user{4};  // a newer invite from the same device replaces the held one
  std::size_t max_held_followups{64};        // candidates etc. kept per held invite, replayed on release
  std::size_t max_tombstones{1024};          // ended call_ids remembered, so late messages are dropped
  SeqConfig seq;

  // ---- Focus mode (MSC3898, js-sdk `matthew/sfu`; docs/ARCHITECTURE.md "Focus mode"). ----
  // Our focus. Without one, the first other participant's `foci.active` focus is adopted when we enter (if
  // adopt_focus); with none anywhere, the call is full mesh.
  std::optional<proto::FocusInfo> focus;
  bool adopt_focus{true};
  std::size_t focus_max_video_tracks{9};  // video tracks subscribed at once (audio: all)
  std::int64_t focus_video_width{640};    // the size we ask the focus for, per video track
  std::int64_t focus_video_height{360};
  // No m.call.ping from the focus for this long (after the first one): hang up (keep_alive_timeout) and call
  // it again. 0 = never. The focus pings at least every 30 s (MSC3898).
  TimeMs focus_ping_timeout_ms{90'000};
  std::size_t max_data_channel_outbox{256};  // messages held until the data channel opens
  // Mixed calls (docs/focus.md "Mixed calls"): in focus mode we still hold mesh legs with participants whose
  // device entry names no active focus (mesh-only clients such as matrix-js-sdk 28.1.0), one uplink each, at
  // most this many at once. Beyond it their invites are rejected (`mesh_peer_limit`) and we call nobody more.
  // 0 = focus only (mesh-only clients reach nobody through us).
  std::size_t max_mesh_peers{8};
};

}  // namespace chorus::core
