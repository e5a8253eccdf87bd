// chorus: native Matrix group calls (MSC3401). Parses flags and hands over to the libraries.
// Built twice: as `chorus` (every subcommand) and, with CHORUS_FOCUS_ONLY, as `chorus-focus` (only `focus`,
// linking only the focus's libraries). `chorus focus` re-executes `chorus-focus` from its own directory when
// it is there, so the SFU process maps none of the participant's or the homeserver's libraries
// (docs/focus.md, "Memory").
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "apps/chorus/commands.hpp"
#include "base/log.hpp"

namespace {

#if defined(CHORUS_HAVE_FOCUS) && defined(CHORUS_FOCUS_SERVICE) && !defined(CHORUS_FOCUS_ONLY)
// Replaces this process with `chorus-focus` from the directory of this executable, same arguments. Returns
// only when there is none (or CHORUS_FOCUS_IN_PROCESS is set): the focus then runs in this process.
void execLeanFocus(char** argv) {
  if (const char* in = std::getenv("CHORUS_FOCUS_IN_PROCESS"); in != nullptr && *in != '\0') return;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  const std::string lean = (self.parent_path() / "chorus-focus").string();
  if (::access(lean.c_str(), X_OK) != 0) return;
  ::execv(lean.c_str(), argv);
  std::fprintf(stderr, "chorus: cannot run %s (%s); running the focus in this process\n", lean.c_str(),
               std::strerror(errno));
}
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef CHORUS_FOCUS_ONLY
  CLI::App app{"chorus-focus: the MSC3898 focus of chorus (`chorus focus` runs this)"};
#else
  CLI::App app{"chorus: native Matrix group calls (MSC3401)"};
#endif
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  chorus::app::Runner runner;
#ifndef CHORUS_FOCUS_ONLY
  chorus::app::registerDemo(app, &runner);
#ifdef CHORUS_HAVE_CALL
  chorus::app::registerCall(app, &runner);
#endif
#ifdef CHORUS_HAVE_HS
  chorus::app::registerHs(app, &runner);
#endif
#endif  // CHORUS_FOCUS_ONLY
#if defined(CHORUS_HAVE_FOCUS) && defined(CHORUS_FOCUS_SERVICE)
  chorus::app::registerFocus(app, &runner);
#endif
#ifndef CHORUS_FOCUS_ONLY
  chorus::app::registerBench(app, &runner);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  chorus::log::Level level;
  if (!chorus::log::parseLevel(log_level, level)) {
    std::fprintf(stderr, "unknown --log-level %s\n", log_level.c_str());
    return 2;
  }
#if defined(CHORUS_HAVE_FOCUS) && defined(CHORUS_FOCUS_SERVICE) && !defined(CHORUS_FOCUS_ONLY)
  if (app.got_subcommand("focus")) execLeanFocus(argv);
#endif
  chorus::log::setLevel(level);
  return runner ? runner() : 0;
}
