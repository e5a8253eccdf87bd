// `chorus hs`: the embedded single-node homeserver; `chorus hs register` creates an account in its data dir.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "apps/chorus/commands.hpp"
#include "hs/config.hpp"
#include "hs/server.hpp"

namespace chorus::app {
namespace {

struct HsOptions {
  std::string listen{"127.0.0.1:8008"};
  std::string data;
  std::string server_name{"localhost"};
  std::string config;
  bool open_registration{false};
  bool no_rate_limit{false};
  bool fast_kdf{false};
  std::string synchronous;
  std::string web;
};

struct RegisterOptions {
  std::string data;
  std::string server_name{"localhost"};
  std::string user;
  std::string password;
  bool admin{false};
};

int runHs(const HsOptions& o, const CLI::App& cmd) {
  hs::ServerConfig cfg;
  if (!o.config.empty()) {
    if (auto st = hs::loadConfigFile(o.config, cfg); !st) {
      std::fprintf(stderr, "chorus hs: %s\n", st.error().message.c_str());
      return 2;
    }
  }
  // Flags given on the command line win over the file.
  if (cmd.count("--listen") || o.config.empty()) {
    if (auto st = hs::parseListen(o.listen, cfg); !st) {
      std::fprintf(stderr, "chorus hs: %s\n", st.error().message.c_str());
      return 2;
    }
  }
  if (cmd.count("--server-name") || o.config.empty()) cfg.server_name = o.server_name;
  cfg.data_dir = o.data;
  if (o.open_registration) cfg.open_registration = true;
  if (o.no_rate_limit) {
    // Tests and benchmarks: many clients on one address, many logins.
    cfg.rate_per_second = 0;
    cfg.login_limits = false;
    cfg.max_connections_per_address = 0;
  }
  if (o.fast_kdf) hs::useTestKdf(cfg);
  if (!o.synchronous.empty()) cfg.synchronous = o.synchronous;
  cfg.web_root = o.web;
#ifdef CHORUS_SOURCE_DIR
  // From a build tree, serve the repository's web client unless told otherwise.
  if (cfg.web_root.empty() && !cmd.count("--web")) {
    std::FILE* probe = std::fopen(CHORUS_SOURCE_DIR "/web/call/index.html", "rb");
    if (probe) {
      std::fclose(probe);
      cfg.web_root = CHORUS_SOURCE_DIR "/web";
    }
  }
#endif

  // Block the stop signals before the I/O thread starts, so only sigwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  hs::Server server(cfg);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "chorus hs: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("chorus hs listening on %s (server name %s, data %s)\n", server.baseUrl().c_str(),
              cfg.server_name.c_str(), cfg.data_dir.c_str());
  if (!cfg.web_root.empty()) std::printf("web client: %s/call/\n", server.baseUrl().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  std::printf("chorus hs: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  server.stop();
  return 0;
}

int runRegister(const RegisterOptions& o) {
  hs::ServerConfig cfg;
  cfg.data_dir = o.data;
  cfg.server_name = o.server_name;
  auto r = hs::Server::registerUser(cfg, o.user, o.password, o.admin);
  if (!r) {
    std::fprintf(stderr, "chorus hs register: %s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("registered %s%s\n", r->c_str(), o.admin ? " (admin)" : "");
  return 0;
}

}  // namespace

void registerHs(CLI::App& app, Runner* runner) {
  auto* cmd = app.add_subcommand("hs", "Embedded single-node Matrix homeserver (SQLite, no federation)");
  auto hs_opt = std::make_shared<HsOptions>();
  cmd->add_option("--listen", hs_opt->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--data", hs_opt->data, "Data directory (SQLite database)");
  cmd->add_option("--server-name", hs_opt->server_name, "Matrix server name (the part after ':' in IDs)")
      ->capture_default_str();
  cmd->add_option("--config", hs_opt->config, "JSON config file (see docs/hs.md)");
  cmd->add_flag("--open-registration", hs_opt->open_registration, "Allow POST /register with m.login.dummy");
  cmd->add_flag("--no-rate-limit", hs_opt->no_rate_limit,
                "Disable per-user rate limits, login limits and the per-address connection cap");
  cmd->add_flag("--fast-kdf", hs_opt->fast_kdf, "Cheapest password KDF settings (tests only)");
  cmd->add_option("--web", hs_opt->web,
                  "Directory of the web client served at /call/ (default: the repo's web/)");
  cmd->add_option("--synchronous", hs_opt->synchronous, "SQLite synchronous mode: full (default) or normal")
      ->check(CLI::IsMember({"full", "normal"}));

  auto* reg = cmd->add_subcommand("register", "Create a user account in the data directory");
  auto reg_opt = std::make_shared<RegisterOptions>();
  reg->add_option("--data", reg_opt->data, "Data directory")->required();
  reg->add_option("--user", reg_opt->user, "User name (localpart)")->required();
  reg->add_option("--password", reg_opt->password, "Password")->required();
  reg->add_option("--server-name", reg_opt->server_name, "Matrix server name")->capture_default_str();
  reg->add_flag("--admin", reg_opt->admin, "Make the user a server admin");

  cmd->callback([cmd, reg, hs_opt, reg_opt, runner] {
    if (reg->parsed()) {
      *runner = [reg_opt] { return runRegister(*reg_opt); };
      return;
    }
    if (hs_opt->data.empty()) throw CLI::RequiredError("--data");
    *runner = [cmd, hs_opt] { return runHs(*hs_opt, *cmd); };
  });
}

}  // namespace chorus::app
