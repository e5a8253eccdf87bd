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

}  // namespace chorus::app
