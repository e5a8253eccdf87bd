#include "proc/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <thread>

#include <boost/json/parse.hpp>

extern char** environ;

namespace chorus::proc {

namespace {

constexpr int kWaitStepMs = 20;

}  // namespace

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  closePipe();
}

bool Child::spawn(const std::vector<std::string>& argv, const std::string& stderr_path) {
  if (argv.empty() || running()) return false;
  closePipe();
  buffer_.clear();
  skipping_ = false;
  lines_.clear();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;  // fd 1 of the child (a dup2) does not inherit it
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return false;
  }
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  pid_ = pid;
  fd_ = fds[0];
  started_ = std::chrono::system_clock::now();
  return true;
}

void Child::closePipe() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Child::read() {
  char buf[8192];
  while (fd_ >= 0) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n == 0) {
      closePipe();
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) closePipe();
      break;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    takeLines();
  }
}

void Child::takeLines() {
  std::size_t start = 0;
  for (std::size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (skipping_) {
      skipping_ = false;
      continue;
    }
    if (nl - start > options_.max_line_bytes) continue;
    Line l{std::chrono::steady_clock::now(), buffer_.substr(start, nl - start), std::nullopt};
    boost::system::error_code ec;
    auto v = boost::json::parse(l.text, ec);
    if (!ec && v.is_object()) l.object = std::move(v.as_object());
    if (hook_) hook_(l);
    lines_.push_back(std::move(l));
    if (lines_.size() > options_.max_lines) {
      lines_.erase(lines_.begin(), lines_.begin() + static_cast<std::ptrdiff_t>(options_.max_lines / 2 + 1));
    }
  }
  buffer_.erase(0, start);
  if (buffer_.size() > options_.max_line_bytes) {  // a runaway line: drop it up to its newline
    buffer_.clear();
    skipping_ = true;
  }
}

void Child::pump(int timeout_ms) {
  if (fd_ < 0) {
    if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return;
  }
  pollfd p{fd_, POLLIN, 0};
  ::poll(&p, 1, timeout_ms);
  read();
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Child::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Child::wait(int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      read();
      return false;
    }
    pump(static_cast<int>(std::min<std::int64_t>(left.count(), kWaitStepMs)));
  }
  // It has exited: what it wrote is in the pipe (unless a child of its own still holds the write end).
  read();
  closePipe();
  return true;
}

void Child::stop(int sig, int timeout_ms) {
  signal(sig);
  if (!wait(timeout_ms) && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    read();
    closePipe();
  }
}

const Child::Line* Child::lastEvent(std::string_view event,
                                    std::optional<std::chrono::steady_clock::time_point> before) const {
  for (auto it = lines_.rbegin(); it != lines_.rend(); ++it) {
    if (!it->object || (before && it->at > *before)) continue;
    const auto* e = it->object->if_contains("event");
    if (e && e->is_string() && e->as_string() == event) return &*it;
  }
  return nullptr;
}

const boost::json::object* Child::lastEventObject(std::string_view event) const {
  const Line* l = lastEvent(event);
  return l ? &*l->object : nullptr;
}

void pump(const std::vector<Child*>& children, int timeout_ms) {
  std::vector<pollfd> pfds;
  for (const Child* c : children) {
    if (c->stdoutFd() >= 0) pfds.push_back(pollfd{c->stdoutFd(), POLLIN, 0});
  }
  if (pfds.empty()) {
    if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
  } else {
    ::poll(pfds.data(), pfds.size(), timeout_ms);
  }
  for (Child* c : children) c->read();
}

}  // namespace chorus::proc
