#pragma once
// Bridges core's media actions to endpoint::MediaEngine, and the engine's events back to core inputs.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "endpoint/media_engine.hpp"
#include "session/call_session.hpp"

namespace chorus::call {

class EndpointBackend final : public session::MediaBackend {
 public:
  explicit EndpointBackend(endpoint::MediaEngine& engine) : engine_(engine) {}

  // Optional: told of every remote candidate handed to the engine, trickled or inside a remote description
  // (diagnostics of legs that do not connect).
  std::function<void(core::LegId, const std::string&)> on_remote_candidate;

  // session::MediaBackend
  void execute(const core::Action& action) override;

  // Converts one engine event into the core input it stands for (nullopt: nothing for core, e.g.
  // RemoteStream).
  static std::optional<core::Input> toInput(const endpoint::MediaEvent& ev);

 private:
  endpoint::MediaEngine& engine_;  // Borrowed (outlives this).
};

}  // namespace chorus::call
