#include "bench/net/impair_relay.hpp"

#include "bench/json_text.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

namespace chorus::bench {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxDatagram = 65535;
constexpr std::size_t kMaxControlLine = 4096;
constexpr TimeUs kClientIdleUs = 60'000'000;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) {
  g_stop = 1;
}

TimeUs nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Address {
  sockaddr_storage ss{};
  socklen_t len{0};

  int family() const { return ss.ss_family; }
  std::string key() const { return std::string(reinterpret_cast<const char*>(&ss), len); }
  std::string ip() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    }
    return buf;
  }
  std::uint16_t port() const {
    return ntohs(family() == AF_INET ? reinterpret_cast<const sockaddr_in*>(&ss)->sin_port
                                     : reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  }
  std::string text() const {
    return (family() == AF_INET6 ? "[" + ip() + "]" : ip()) + ":" + std::to_string(port());
  }
};

// "IP", "IP:PORT", "[IPv6]:PORT" (port 0 when absent).
std::optional<Address> parseAddress(const std::string& text) {
  std::string host = text;
  std::string port = "0";
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) return std::nullopt;
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return a;
}

int udpSocket(const Address& bind_to, std::string& err) {
  const int fd = ::socket(bind_to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int buf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to.ss), bind_to.len) != 0) {
    err = "bind " + bind_to.text() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

Address localAddress(int fd) {
  Address a;
  a.len = sizeof a.ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len);
  return a;
}

void printLine(const json::object& o) {
  const std::string s = formatJson(o);
  std::fprintf(stdout, "%s\n", s.c_str());
  std::fflush(stdout);
}

class Relay {
 public:
  explicit Relay(const ImpairRelayOptions& o)
      : opt_(o), up_(o.up, o.seed), down_(o.down, o.seed * 0x9E3779B97F4A7C15ULL + 1) {}

  ~Relay() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    for (auto& [key, c] : clients_) ::close(c.fd);
  }

  bool start() {
    auto listen = parseAddress(opt_.listen);
    auto target = parseAddress(opt_.target);
    if (!listen || !target) {
      std::fprintf(stderr, "chorus bench impair: --listen and --target are IP:PORT ([IPv6]:PORT)\n");
      return false;
    }
    if (target->port() == 0) {
      std::fprintf(stderr, "chorus bench impair: --target needs a port\n");
      return false;
    }
    target_ = *target;
    std::optional<Address> upstream =
        parseAddress(opt_.upstream_bind.empty() ? listen->ip() : opt_.upstream_bind);
    if (!upstream || upstream->family() != target_.family()) {
      std::fprintf(stderr, "chorus bench impair: --upstream-bind must be an IP of the target's family\n");
      return false;
    }
    upstream_bind_ = *upstream;
    std::string err;
    listen_fd_ = udpSocket(*listen, err);
    if (listen_fd_ < 0) {
      std::fprintf(stderr, "chorus bench impair: %s\n", err.c_str());
      return false;
    }
    printLine({{"event", "ready"},
               {"listen", localAddress(listen_fd_).text()},
               {"target", target_.text()},
               {"up", up_.params().toJson()},
               {"down", down_.params().toJson()}});
    return true;
  }

  void run() {
    std::vector<std::uint8_t> buf(kMaxDatagram);
    std::string control;
    bool stdin_open = true;
    ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    TimeUs next_stats =
        opt_.stats_interval_s > 0 ? nowUs() + static_cast<TimeUs>(opt_.stats_interval_s * 1e6) : 0;
    std::vector<pollfd> fds;
    std::vector<std::string> fd_client;  // client key per pollfd (empty: listen / stdin)
    sigset_t unblocked;
    sigemptyset(&unblocked);
    while (g_stop == 0) {
      const TimeUs now = nowUs();
      deliverDue(now);
      if (next_stats != 0 && now >= next_stats) {
        printStats();
        next_stats = now + static_cast<TimeUs>(opt_.stats_interval_s * 1e6);
      }
      fds.clear();
      fd_client.clear();
      fds.push_back({listen_fd_, POLLIN, 0});
      fd_client.emplace_back();
      if (stdin_open) {
        fds.push_back({STDIN_FILENO, POLLIN, 0});
        fd_client.emplace_back();
      }
      for (const auto& [key, c] : clients_) {
        fds.push_back({c.fd, POLLIN, 0});
        fd_client.push_back(key);
      }
      TimeUs wait_us = 200'000;
      if (!pending_.empty()) wait_us = std::clamp<TimeUs>(pending_.top().at - now, 0, wait_us);
      if (next_stats != 0) wait_us = std::clamp<TimeUs>(next_stats - now, 0, wait_us);
      const timespec ts{static_cast<time_t>(wait_us / 1'000'000),
                        static_cast<long>(wait_us % 1'000'000) * 1000};
      const int n = ::ppoll(fds.data(), fds.size(), &ts, &unblocked);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "chorus bench impair: poll: %s\n", std::strerror(errno));
        break;
      }
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        if (fds[i].fd == listen_fd_) {
          readFromClients(buf);
        } else if (fds[i].fd == STDIN_FILENO) {
          stdin_open = readControl(control);
        } else {
          readFromTarget(fd_client[i], buf);
        }
      }
    }
    printStats();
  }

 private:
  struct Client {
    int fd{-1};
    Address addr;
    TimeUs last_seen{0};
    // With per_client: this client's own links (else the shared up_ / down_).
    std::unique_ptr<LinkImpairment> up;
    std::unique_ptr<LinkImpairment> down;
  };
  struct Pending {
    TimeUs at{0};
    std::uint64_t order{0};
    int fd{-1};
    Address to;
    std::vector<std::uint8_t> bytes;
    bool operator>(const Pending& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  void schedule(LinkImpairment& link, int fd, const Address& to, const std::uint8_t* data, std::size_t n,
                TimeUs now) {
    const auto at = link.offer(n, now);
    if (!at) return;
    if (pending_.size() >= opt_.max_pending) {
      ++overflow_;
      return;
    }
    pending_.push(Pending{*at, order_++, fd, to, std::vector<std::uint8_t>(data, data + n)});
  }

  void deliverDue(TimeUs now) {
    while (!pending_.empty() && pending_.top().at <= now) {
      const Pending& p = pending_.top();
      if (::sendto(p.fd, p.bytes.data(), p.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&p.to.ss),
                   p.to.len) < 0) {
        ++send_errors_;
      }
      pending_.pop();
    }
  }

  Client* clientFor(const Address& from, TimeUs now) {
    auto it = clients_.find(from.key());
    if (it != clients_.end()) {
      it->second.last_seen = now;
      return &it->second;
    }
    if (clients_.size() >= opt_.max_clients) {
      auto idle = std::min_element(clients_.begin(), clients_.end(), [](const auto& a, const auto& b) {
        return a.second.last_seen < b.second.last_seen;
      });
      if (now - idle->second.last_seen < kClientIdleUs) {
        ++clients_refused_;
        return nullptr;
      }
      ::close(idle->second.fd);
      clients_.erase(idle);
    }
    std::string err;
    const int fd = udpSocket(upstream_bind_, err);
    if (fd < 0) {
      ++clients_refused_;
      return nullptr;
    }
    ++clients_seen_;
    Client c{fd, from, now, nullptr, nullptr};
    if (opt_.per_client) {
      c.up = std::make_unique<LinkImpairment>(up_.params(), opt_.seed + clients_seen_);
      c.down = std::make_unique<LinkImpairment>(down_.params(),
                                                (opt_.seed + clients_seen_) * 0x9E3779B97F4A7C15ULL);
    }
    return &clients_.emplace(from.key(), std::move(c)).first->second;
  }

  void readFromClients(std::vector<std::uint8_t>& buf) {
    for (int i = 0; i < 256; ++i) {
      Address from;
      from.len = sizeof from.ss;
      const ssize_t n =
          ::recvfrom(listen_fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from.ss), &from.len);
      if (n < 0) return;
      const TimeUs now = nowUs();
      Client* c = clientFor(from, now);
      if (c == nullptr) continue;
      schedule(c->up ? *c->up : up_, c->fd, target_, buf.data(), static_cast<std::size_t>(n), now);
    }
  }

  void readFromTarget(const std::string& key, std::vector<std::uint8_t>& buf) {
    auto it = clients_.find(key);
    if (it == clients_.end()) return;
    for (int i = 0; i < 256; ++i) {
      Address from;
      from.len = sizeof from.ss;
      const ssize_t n = ::recvfrom(it->second.fd, buf.data(), buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from.ss), &from.len);
      if (n < 0) return;
      if (from.key() != target_.key()) {
        ++foreign_drops_;  // only the target may answer through a client's socket
        continue;
      }
      Client& c = it->second;
      schedule(c.down ? *c.down : down_, listen_fd_, c.addr, buf.data(), static_cast<std::size_t>(n),
               nowUs());
    }
  }

  // Reads what stdin has; false at EOF. Each complete line is one command.
  bool readControl(std::string& control) {
    char chunk[1024];
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      control.append(chunk, static_cast<std::size_t>(n));
      std::size_t eol;
      while ((eol = control.find('\n')) != std::string::npos) {
        command(control.substr(0, eol));
        control.erase(0, eol + 1);
      }
      if (control.size() > kMaxControlLine) {
        printLine({{"event", "error"}, {"message", "control line too long"}});
        control.clear();
      }
    }
  }

  void command(const std::string& line) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      printLine({{"event", "error"}, {"message", "not a JSON object"}});
      return;
    }
    const json::object& o = v.get_object();
    ImpairmentParams up = up_.params();
    ImpairmentParams down = down_.params();
    for (const auto& [key, value] : o) {
      Status s = ok();
      if (key == "up" || key == "down") {
        if (!value.is_object()) {
          s = fail(Code::InvalidArgument, std::string(key) + " must be an object");
        } else {
          s = (key == "up" ? up : down).update(value.get_object());
        }
      } else if (key != "stats") {
        s = fail(Code::InvalidArgument, "unknown command " + std::string(key));
      }
      if (!s) {
        printLine({{"event", "error"}, {"message", s.error().message}});
        return;
      }
    }
    if (o.contains("up") || o.contains("down")) {
      up_.setParams(up);
      down_.setParams(down);
      for (auto& [key, c] : clients_) {
        if (c.up) c.up->setParams(up);
        if (c.down) c.down->setParams(down);
      }
      printLine({{"event", "params"}, {"up", up.toJson()}, {"down", down.toJson()}});
    }
    if (o.contains("stats")) printStats();
  }

  // The counters of every client's own link in one direction, added up (per_client), with the params.
  json::object summed(std::unique_ptr<LinkImpairment> Client::*link) const {
    LinkImpairment::Counters total;
    for (const auto& [key, c] : clients_) {
      if (!(c.*link)) continue;
      const auto& k = (c.*link)->counters();
      total.offered += k.offered;
      total.delivered += k.delivered;
      total.lost += k.lost;
      total.queue_drops += k.queue_drops;
      total.bytes_delivered += k.bytes_delivered;
      total.max_queue_delay_us = std::max(total.max_queue_delay_us, k.max_queue_delay_us);
    }
    const LinkImpairment& shared = link == &Client::up ? up_ : down_;
    return countersJson(total, shared.params());
  }

  static json::object countersJson(const LinkImpairment::Counters& c, const ImpairmentParams& params) {
    return {{"offered", c.offered},
            {"delivered", c.delivered},
            {"lost", c.lost},
            {"queue_drops", c.queue_drops},
            {"bytes_delivered", c.bytes_delivered},
            {"max_queue_delay_ms", static_cast<double>(c.max_queue_delay_us) / 1000.0},
            {"params", params.toJson()}};
  }
  static json::object countersJson(const LinkImpairment& l) { return countersJson(l.counters(), l.params()); }

  void printStats() {
    json::object per_client;
    for (const auto& [key, c] : clients_) {
      if (c.up && c.down)
        per_client[c.addr.text()] =
            json::object{{"up", countersJson(*c.up)}, {"down", countersJson(*c.down)}};
    }
    printLine({{"event", "stats"},
               {"up", opt_.per_client ? summed(&Client::up) : countersJson(up_)},
               {"down", opt_.per_client ? summed(&Client::down) : countersJson(down_)},
               {"per_client", std::move(per_client)},
               {"clients", clients_.size()},
               {"clients_seen", clients_seen_},
               {"clients_refused", clients_refused_},
               {"pending", pending_.size()},
               {"pending_overflow", overflow_},
               {"foreign_drops", foreign_drops_},
               {"send_errors", send_errors_}});
  }

  ImpairRelayOptions opt_;
  LinkImpairment up_;
  LinkImpairment down_;
  Address target_;
  Address upstream_bind_;
  int listen_fd_{-1};
  std::map<std::string, Client> clients_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
  std::uint64_t order_{0};
  std::uint64_t overflow_{0};
  std::uint64_t send_errors_{0};
  std::uint64_t foreign_drops_{0};
  std::uint64_t clients_seen_{0};
  std::uint64_t clients_refused_{0};
};

}  // namespace

int runImpairRelay(const ImpairRelayOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &block, nullptr);  // delivered only inside ppoll, so no wake-up is missed
  Relay relay(options);
  if (!relay.start()) return 1;
  relay.run();
  return 0;
}

}  // namespace chorus::bench
