#pragma once
// Each subcommand registers itself on the CLI11 app; the returned callback runs it and yields the exit code.
#include <functional>

#include <CLI/CLI.hpp>

namespace chorus::app {

using Runner = std::function<int()>;

// Registers `chorus <name>`; *runner is set to the code to run when that subcommand was chosen.
void registerDemo(CLI::App& app, Runner* runner);
#ifdef CHORUS_HAVE_HS
void registerHs(CLI::App& app, Runner* runner);
#endif
#if defined(CHORUS_HAVE_FOCUS) && defined(CHORUS_FOCUS_SERVICE)
void registerFocus(CLI::App& app, Runner* runner);
#endif
#ifdef CHORUS_HAVE_CALL
void registerCall(CLI::App& app, Runner* runner);
#endif
// Registers `chorus bench <name>` (sub-benchmarks; `hs` when the homeserver is built).
void registerBench(CLI::App& app, Runner* runner);

}  // namespace chorus::app
