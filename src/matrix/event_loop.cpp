#include "matrix/event_loop.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

namespace chorus::matrix {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

// scheme://host[:port] of a URL, and its target (path and query).
struct Origin {
  bool tls{false};
  std::string host;  // without brackets for IPv6 literals
  std::string port;
  auto operator<=>(const Origin&) const = default;
};

std::optional<std::pair<Origin, std::string>> splitUrl(std::string_view url) {
  Origin o;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    o.tls = true;
    url.remove_prefix(8);
  } else {
    return std::nullopt;
  }
  const std::size_t slash = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, slash);
  std::string target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (target.front() != '/') target.insert(target.begin(), '/');
  if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  if (port.empty()) port = o.tls ? "443" : "80";
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  if (const int n = std::stoi(std::string(port)); n <= 0 || n > 65535) return std::nullopt;
  o.host = std::string(host);
  o.port = std::string(port);
  return std::make_pair(std::move(o), std::move(target));
}

std::string hostHeader(const Origin& o) {
  const bool v6 = o.host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + o.host + "]" : o.host;
  if (o.port != (o.tls ? "443" : "80")) h += ":" + o.port;
  return h;
}

std::chrono::steady_clock::time_point after(TimeMs ms) {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
}

}  // namespace

// One connection to an origin: plain TCP or TLS over it.
struct Connection {
  Origin origin;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  TimeMs idle_since{0};

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void close() {
    error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }
};

struct Transfer {
  EventLoop::TaskId id{0};
  HttpRequest req;
  Origin origin;
  std::string target;
  EventLoop::Callback cb;
  std::shared_ptr<Connection> conn;  // while a request is on it
  std::optional<tcp::resolver> resolver;
  bool cancelled{false};
};

struct EventLoop::Impl {
  // Destroyed in reverse order: the io_context (and with it any suspended exchange) goes before the TLS
  // context its streams use and after the connections and transfers held here.
  asio::ssl::context tls{asio::ssl::context::tls_client};
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::map<TaskId, std::shared_ptr<Transfer>> requests;
  std::multimap<Origin, std::shared_ptr<Connection>> idle;
  std::uint64_t opened{0};
  std::uint64_t reused{0};
  SystemClock clock;

  Impl() {
    tls.set_default_verify_paths();  // the system store (or $SSL_CERT_FILE / $SSL_CERT_DIR)
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
  }
  ~Impl() {
    for (auto& [id, t] : requests) {
      t->cancelled = true;
      if (t->conn) t->conn->close();
    }
    for (auto& [o, c] : idle) c->close();
  }

  std::shared_ptr<Connection> takeIdle(const Origin& origin) {
    const TimeMs now = clock.nowMs();
    auto [lo, hi] = idle.equal_range(origin);
    for (auto it = lo; it != hi;) {
      auto c = it->second;
      it = idle.erase(it);
      if (now - c->idle_since < kIdleConnectionMs && c->lowest().socket().is_open()) return c;
      c->close();
    }
    return nullptr;
  }

  void giveBack(std::shared_ptr<Connection> c) {
    const TimeMs now = clock.nowMs();
    for (auto it = idle.begin(); it != idle.end();) {  // drop the expired ones
      if (now - it->second->idle_since >= kIdleConnectionMs) {
        it->second->close();
        it = idle.erase(it);
      } else {
        ++it;
      }
    }
    if (idle.count(c->origin) >= kMaxIdlePerOrigin || idle.size() >= kMaxIdleConnections) {
      c->close();
      return;
    }
    c->idle_since = now;
    c->buffer.clear();
    idle.emplace(c->origin, std::move(c));
  }

  asio::awaitable<std::shared_ptr<Connection>> connect(Transfer& t,
                                                       std::chrono::steady_clock::time_point deadline,
                                                       error_code& ec, std::string& what) {
    const auto connect_deadline = std::min(deadline, after(kConnectTimeoutMs));
    t.resolver.emplace(io);
    auto endpoints = co_await t.resolver->async_resolve(t.origin.host, t.origin.port,
                                                        asio::redirect_error(asio::use_awaitable, ec));
    t.resolver.reset();
    if (ec || t.cancelled) {
      what = "cannot resolve " + t.origin.host;
      co_return nullptr;
    }
    auto c = std::make_shared<Connection>();
    c->origin = t.origin;
    if (t.origin.tls) {
      c->secure.emplace(io, tls);
    } else {
      c->plain.emplace(io);
    }
    t.conn = c;
    c->lowest().expires_at(connect_deadline);
    co_await c->lowest().async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || t.cancelled) {
      what = "cannot connect to " + hostHeader(t.origin);
      co_return nullptr;
    }
    ++opened;
    if (c->secure) {
      error_code literal;
      asio::ip::make_address(t.origin.host, literal);
      SSL* ssl = c->secure->native_handle();
      if (literal && SSL_set_tlsext_host_name(ssl, t.origin.host.c_str()) != 1) {  // SNI, for names only
        ec = asio::error::invalid_argument;
        what = "TLS: bad host name " + t.origin.host;
        co_return nullptr;
      }
      c->secure->set_verify_callback(asio::ssl::host_name_verification(t.origin.host));
      co_await c->secure->async_handshake(asio::ssl::stream_base::client,
                                          asio::redirect_error(asio::use_awaitable, ec));
      if (ec || t.cancelled) {
        what = "TLS handshake with " + hostHeader(t.origin) + " failed";
        co_return nullptr;
      }
    }
    co_return c;
  }

  // One request and its response on `s`. `got_reply` tells whether any byte of a response arrived.
  template <class Stream>
  asio::awaitable<void> exchange(Stream& s, Connection& c, Transfer& t,
                                 std::chrono::steady_clock::time_point deadline, HttpResponse& out,
                                 bool& keep_alive, bool& got_reply, error_code& ec) {
    http::request<http::string_body> req;
    req.method_string(t.req.method);
    req.target(t.target);
    req.version(11);
    req.set(http::field::host, hostHeader(t.origin));
    req.set(http::field::user_agent, "chorus/0.1");
    for (const auto& h : t.req.headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) continue;
      std::string_view value = std::string_view(h).substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      req.set(std::string_view(h).substr(0, colon), value);
    }
    if (!t.req.body.empty() || t.req.method == "PUT" || t.req.method == "POST") {
      req.set(http::field::content_type, "application/json");
      req.body() = t.req.body;
    }
    req.prepare_payload();
    c.lowest().expires_at(deadline);
    co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    parser.header_limit(kMaxHeaderBytes);
    c.lowest().expires_at(deadline);
    co_await http::async_read(s, c.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    got_reply = parser.got_some();
    if (ec) co_return;
    auto& res = parser.get();
    out.status = static_cast<long>(res.result_int());
    out.body = std::move(res.body());
    keep_alive = res.keep_alive();
  }

  asio::awaitable<void> perform(std::shared_ptr<Transfer> t) {
    const auto deadline = after(std::max<long>(t->req.timeout_ms, 1));
    HttpResponse resp;
    std::string what;
    error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {  // a second try only after a stale kept-alive connection
      ec = {};
      what.clear();
      std::shared_ptr<Connection> c = takeIdle(t->origin);
      const bool was_idle = c != nullptr;
      if (c) {
        ++reused;
        t->conn = c;
      } else {
        c = co_await connect(*t, deadline, ec, what);
        if (t->cancelled) co_return;
        if (!c) break;
      }
      bool keep_alive = false;
      bool got_reply = false;
      if (c->secure) {
        co_await exchange(*c->secure, *c, *t, deadline, resp, keep_alive, got_reply, ec);
      } else {
        co_await exchange(*c->plain, *c, *t, deadline, resp, keep_alive, got_reply, ec);
      }
      t->conn.reset();
      if (t->cancelled) {
        c->close();
        co_return;
      }
      if (!ec) {
        if (keep_alive) {
          giveBack(std::move(c));
        } else {
          c->close();
        }
        break;
      }
      c->close();
      what = (ec == beast::error::timeout ? "timed out: " : "") + t->req.method + " " + t->target + " to " +
             hostHeader(t->origin);
      if (!was_idle || got_reply || ec == beast::error::timeout) break;
    }
    requests.erase(t->id);
    if (ec) {
      resp = HttpResponse{};
      resp.transport_error = what + ": " + ec.message();
    }
    if (t->cb) t->cb(std::move(resp));
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() = default;

TimeMs EventLoop::nowMs() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

EventLoop::TaskId EventLoop::request(HttpRequest req, Callback cb) {
  auto t = std::make_shared<Transfer>();
  t->id = ++next_id_;
  t->cb = std::move(cb);
  auto parts = splitUrl(req.url);
  t->req = std::move(req);
  const TaskId id = t->id;
  if (!parts) {
    // Completes from the loop like any other failure, never inside request().
    asio::post(impl_->io, [this, t] {
      if (impl_->requests.erase(t->id) == 0) return;  // cancelled
      HttpResponse resp;
      resp.transport_error = "bad URL: " + t->req.url;
      if (t->cb) t->cb(std::move(resp));
    });
    impl_->requests.emplace(id, std::move(t));
    return id;
  }
  t->origin = std::move(parts->first);
  t->target = std::move(parts->second);
  impl_->requests.emplace(id, t);
  asio::co_spawn(impl_->io, impl_->perform(std::move(t)), asio::detached);
  return id;
}

void EventLoop::cancelRequest(TaskId id) {
  auto it = impl_->requests.find(id);
  if (it == impl_->requests.end()) return;
  auto t = it->second;
  impl_->requests.erase(it);
  t->cancelled = true;
  if (t->resolver) t->resolver->cancel();
  if (t->conn) t->conn->close();
}

std::size_t EventLoop::inFlight() const {
  return impl_->requests.size();
}
std::uint64_t EventLoop::connectionsOpened() const {
  return impl_->opened;
}
std::uint64_t EventLoop::connectionsReused() const {
  return impl_->reused;
}

EventLoop::TaskId EventLoop::setTimer(TimeMs delay_ms, std::function<void()> fn) {
  const TaskId id = ++next_id_;
  timers_.emplace(nowMs() + std::max<TimeMs>(0, delay_ms), std::make_pair(id, std::move(fn)));
  return id;
}

void EventLoop::cancelTimer(TaskId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.push_back(std::move(fn));
  }
  asio::post(impl_->io, [] {});  // wakes run()
}

void EventLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  asio::post(impl_->io, [] {});
}

bool EventLoop::stopped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stop_;
}

void EventLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) t();
}

void EventLoop::runTimers() {
  const TimeMs now = nowMs();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto fn = std::move(timers_.begin()->second.second);
    timers_.erase(timers_.begin());
    fn();
  }
}

void EventLoop::run() {
  auto& io = impl_->io;
  io.restart();
  impl_->work.emplace(io.get_executor());
  while (true) {
    runPosted();
    if (stopped()) break;
    runTimers();
    io.poll();  // every I/O completion that is ready
    runPosted();
    if (stopped()) break;
    TimeMs wait = 1000;
    if (!timers_.empty())
      wait = std::min<TimeMs>(wait, std::max<TimeMs>(0, timers_.begin()->first - nowMs()));
    if (wait > 0) io.run_one_for(std::chrono::milliseconds(wait));
  }
  impl_->work.reset();
  // A later run() runs again.
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = false;
}

}  // namespace chorus::matrix
