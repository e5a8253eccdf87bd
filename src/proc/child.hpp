#pragma once
// proc::Child: one child process of the chorus tools (`chorus demo` and `chorus bench` run `chorus hs`,
// `chorus focus` and `chorus call`). stdin from /dev/null, stdout on a non-blocking pipe that is read line by
// line (a line that is a JSON object is also kept parsed: the tools print JSON lines), stderr to a log file.
// POSIX; used from one thread. Owned: the process and the pipe (a child still running when its Child is
// destroyed is killed with SIGKILL and reaped). Bounded: the newest `max_lines` lines, lines of at most
// `max_line_bytes`.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace chorus::proc {

class Child {
 public:
  struct Line {
    std::chrono::steady_clock::time_point at;   // when it was read
    std::string text;                           // without the newline
    std::optional<boost::json::object> object;  // when the line is a JSON object
  };
  struct Options {
    std::size_t max_lines{4000};           // beyond it, the oldest half is dropped
    std::size_t max_line_bytes{1u << 20};  // a longer line is dropped (up to its newline)
  };
  // Called for every complete line as it is read (before it is stored).
  using LineHook = std::function<void(const Line&)>;

  Child() : Child(Options{}) {}
  explicit Child(Options options) : options_(options) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // Starts argv[0] (a path) with argv; stderr goes to `stderr_path` (created or truncated). The lines of a
  // previous run are forgotten. false when the pipe or the spawn fails (or a previous run still runs).
  bool spawn(const std::vector<std::string>& argv, const std::string& stderr_path);

  // Reads what the pipe holds now, without blocking. At end of file the pipe is closed.
  void read();
  // Waits up to timeout_ms for output (sleeps when the pipe is closed), then reads.
  void pump(int timeout_ms);
  // true while the process runs; reaps it once it has exited.
  bool running();
  void signal(int sig);
  // Waits up to timeout_ms for the process to exit, reading its output meanwhile. true when it has exited
  // (or was never started); its output is then read to the end and the pipe closed.
  bool wait(int timeout_ms);
  // signal(sig), wait(timeout_ms), then SIGKILL and reap; the output is read to the end.
  void stop(int sig, int timeout_ms);

  pid_t pid() const { return pid_; }    // -1 when not running (or reaped)
  int stdoutFd() const { return fd_; }  // -1 once closed
  std::chrono::system_clock::time_point startedAt() const { return started_; }
  const std::deque<Line>& lines() const { return lines_; }
  // The newest JSON line whose "event" is `event` and that was read at or before `before` (if given).
  const Line* lastEvent(std::string_view event,
                        std::optional<std::chrono::steady_clock::time_point> before = std::nullopt) const;
  // The object of lastEvent(event), or nullptr.
  const boost::json::object* lastEventObject(std::string_view event) const;
  void onLine(LineHook hook) { hook_ = std::move(hook); }

 private:
  void closePipe();
  void takeLines();

  Options options_;
  pid_t pid_{-1};
  int fd_{-1};
  std::chrono::system_clock::time_point started_{};
  std::string buffer_;
  bool skipping_{false};  // inside a line longer than max_line_bytes
  std::deque<Line> lines_;
  LineHook hook_;
};

// Waits up to timeout_ms until one of `children` has output, then reads all of them (sleeps when none has
// an open pipe).
void pump(const std::vector<Child*>& children, int timeout_ms);

}  // namespace chorus::proc
