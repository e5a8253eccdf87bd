// chorus: native Matrix group calls (MSC3401). Parses flags and hands over to the libraries.
#include <cstdio>
#include <string>

#include "apps/chorus/commands.hpp"
#include "base/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{"chorus: native Matrix group calls (MSC3401)"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  chorus::app::Runner runner;
  chorus::app::registerDemo(app, &runner);
#ifdef CHORUS_HAVE_CALL
  chorus::app::registerCall(app, &runner);
#endif
#ifdef CHORUS_HAVE_HS
  chorus::app::registerHs(app, &runner);
#endif
#if defined(CHORUS_HAVE_FOCUS) && defined(CHORUS_FOCUS_SERVICE)
  chorus::app::registerFocus(app, &runner);
#endif
  chorus::app::registerBench(app, &runner);

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
  chorus::log::setLevel(level);
  return runner ? runner() : 0;
}
