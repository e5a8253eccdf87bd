#pragma once
// Runs the real `chorus hs` binary as a child process and finds its port from the "listening on" line.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace chorus::hs::test {

class HsProcess {
 public:
  // Starts `chorus hs --listen 127.0.0.1:0 --data DIR <extra>` and waits (<= 10 s) for it to listen.
  HsProcess(const std::string& bin, const std::string& dir, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {bin, "hs", "--listen", "127.0.0.1:0", "--data", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("spawn " + bin);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    out_ = fdopen(out[0], "r");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    char line[512];
    while (std::chrono::steady_clock::now() < deadline && std::fgets(line, sizeof line, out_)) {
      std::string s(line);
      const std::string marker = "listening on http://127.0.0.1:";
      auto pos = s.find(marker);
      if (pos != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::stoi(s.substr(pos + marker.size())));
        ready_ = std::chrono::steady_clock::now();
        return;
      }
    }
    kill9();
    throw std::runtime_error("chorus hs did not start");
  }
  ~HsProcess() {
    if (pid_ > 0) kill9();
    if (out_) std::fclose(out_);
  }
  HsProcess(const HsProcess&) = delete;
  HsProcess& operator=(const HsProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  // SIGTERM and wait; returns the exit status (or -1 if it had to be killed after `within`).
  int terminate(std::chrono::milliseconds within) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill9();
    return -1;
  }

 private:
  pid_t pid_{-1};
  FILE* out_{nullptr};
  std::uint16_t port_{0};
  std::chrono::steady_clock::time_point ready_;
};

}  // namespace chorus::hs::test
