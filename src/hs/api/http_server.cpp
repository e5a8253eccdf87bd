#include "hs/api/http_server.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/beast/http.hpp>

#include "base/log.hpp"

namespace chorus::hs {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kIoTimeout = std::chrono::seconds(30);

void addCors(http::response<http::string_body>& res) {
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
  res.set(http::field::access_control_allow_headers, "X-Requested-With, Content-Type, Authorization, Date");
  res.set(http::field::access_control_max_age, "86400");
}
}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, ClientApi& api, const ServerConfig& cfg)
    : ioc_(ioc), api_(api), cfg_(cfg), acceptor_(ioc) {}

Status HttpServer::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return fail(Code::InvalidArgument, "bad listen address " + host + ": " + ec.message());
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Code::Unavailable,
                "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return ok();
}

void HttpServer::start() {
  asio::co_spawn(ioc_, acceptLoop(), asio::detached);
}

void HttpServer::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto* s : idle_) s->socket().cancel(ec);
}

int HttpServer::framingError(const http::fields& head) {
  const bool has_cl = head.count(http::field::content_length) > 0;
  std::vector<std::string> codings;
  for (const auto& f : head) {
    if (f.name() != http::field::transfer_encoding) continue;
    const std::string_view v = f.value();
    std::size_t pos = 0;
    while (pos <= v.size()) {
      std::size_t comma = v.find(',', pos);
      if (comma == std::string_view::npos) comma = v.size();
      std::string_view t = v.substr(pos, comma - pos);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
      std::string tok(t);
      for (auto& c : tok) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!tok.empty()) codings.push_back(std::move(tok));
      if (codings.size() > 8) return 400;
      pos = comma + 1;
    }
  }
  const bool has_te = head.count(http::field::transfer_encoding) > 0;
  if (has_te && has_cl) return 400;  // §6.1: a smuggling attempt; never pick one of the two
  if (!has_te) return 0;
  for (const auto& c : codings) {
    if (c != "chunked") return 501;  // §6.1: a coding we do not understand
  }
  if (codings.size() != 1) return 400;  // "" or "chunked, chunked"
  return 0;
}

asio::ip::address HttpServer::clientKey(const asio::ip::address& peer) {
  if (!peer.is_v6()) return peer;
  const auto v6 = peer.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

asio::awaitable<void> HttpServer::acceptLoop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      CHORUS_LOG(Warn, "hs", "accept failed: " << ec.message());
      asio::steady_timer t(ioc_, std::chrono::milliseconds(50));  // e.g. EMFILE: back off instead of spinning
      co_await t.async_wait(kTuple);
      continue;
    }
    boost::system::error_code eec;
    const auto peer = socket.remote_endpoint(eec);
    if (eec) {
      socket.close(eec);
      continue;
    }
    const asio::ip::address addr = clientKey(peer.address());
    auto it = per_address_.find(addr);
    const std::size_t mine = it == per_address_.end() ? 0 : it->second;
    const bool full = live_ >= cfg_.max_connections;
    const bool over_address_cap =
        cfg_.max_connections_per_address > 0 && mine >= cfg_.max_connections_per_address;
    // The last connection_reserve slots are for addresses that hold no connection yet.
    const bool in_reserve =
        cfg_.connection_reserve > 0 && mine > 0 &&
        live_ + std::min(cfg_.connection_reserve, cfg_.max_connections) >= cfg_.max_connections;
    if (full || over_address_cap || in_reserve) {
      ++refused_;
      if ((refused_ & (refused_ - 1)) == 0) {  // 1, 2, 4, 8, ...: bounded logging
        CHORUS_LOG(Warn, "hs",
                   "refused a connection from " << addr.to_string() << " (" << mine << " from it, " << live_
                                                << " in all; " << refused_ << " refused)");
      }
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++live_;
    ++per_address_[addr];
    asio::co_spawn(ioc_, session(std::move(socket), addr), asio::detached);
  }
}

asio::awaitable<void> HttpServer::session(tcp::socket socket, asio::ip::address peer) {
  beast::tcp_stream stream(std::move(socket));
  streams_.insert(&stream);
  beast::flat_buffer buffer;
  const auto head_timeout = std::chrono::milliseconds(cfg_.head_timeout_ms);
  const auto idle_timeout = std::chrono::milliseconds(cfg_.idle_timeout_ms);
  const auto body_timeout = std::chrono::milliseconds(cfg_.body_timeout_ms);
  const std::string remote = peer.to_string();

  // Answers with a Matrix error and ends the connection.
  auto fatal = [&](http::status status, const char* body) -> asio::awaitable<void> {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    addCors(res);
    res.body() = body;
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(kIoTimeout);
    co_await http::async_write(stream, res, kTuple);
    // Lingering close: read and drop what the client is still sending (bounded), so that closing with
    // unread data does not reset the connection and destroy the answer before the client has read it.
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(2));
    std::size_t drained = 0;
    static thread_local char scratch[16384];
    while (drained < (8u << 20)) {
      auto [dec, dn] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
      if (dec) break;
      drained += dn;
    }
  };

  bool first = true;
  for (;;) {
    if (stopping_) break;
    http::request_parser<http::string_body> parser;
    parser.body_limit(cfg_.max_body_bytes);
    parser.header_limit(64 * 1024);
    // The whole head must arrive within head_timeout: from the accept for the first request, from its first
    // byte on a kept-alive connection (which may first idle for idle_timeout). A trickle cannot extend it.
    if (first) {
      stream.expires_after(head_timeout);
    } else if (buffer.size() == 0) {
      stream.expires_after(idle_timeout);
      idle_.insert(&stream);
      auto [iec, in] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      idle_.erase(&stream);
      if (iec) break;
      buffer.commit(in);
      stream.expires_after(head_timeout);
    } else {
      stream.expires_after(head_timeout);
    }
    idle_.insert(&stream);  // stop() cancels a half-received head as well
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
    idle_.erase(&stream);
    first = false;
    (void)n;
    if (!ec) {
      if (const int bad = framingError(parser.get()); bad == 501) {
        co_await fatal(http::status::not_implemented,
                       R"({"errcode":"M_UNRECOGNIZED","error":"Unsupported Transfer-Encoding"})");
        break;
      } else if (bad) {
        co_await fatal(http::status::bad_request,
                       R"({"errcode":"M_UNKNOWN","error":"Ambiguous message framing: Transfer-Encoding"})");
        break;
      }
      stream.expires_after(body_timeout);
      auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kTuple);
      ec = bec;
      (void)bn;
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        co_await fatal(http::status::payload_too_large,
                       R"({"errcode":"M_TOO_LARGE","error":"Request body too large"})");
      } else if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
                 ec != beast::error::timeout && ec != asio::error::connection_reset &&
                 ec != asio::error::eof) {
        co_await fatal(http::status::bad_request,
                       R"({"errcode":"M_UNKNOWN","error":"Malformed HTTP request"})");
      }
      break;
    }
    auto req = parser.release();
    stream.expires_never();  // a /sync long-poll may take its time; ClientApi bounds it
    HttpRequest hreq;
    hreq.method = std::string(req.method_string());
    hreq.target = std::string(req.target());
    hreq.authorization = std::string(req[http::field::authorization]);
    hreq.body = std::move(req.body());
    hreq.remote = remote;
    const std::string method = hreq.method;
    const std::string target = hreq.target.substr(0, hreq.target.find('?'));  // no tokens in logs
    HttpResponse hres = co_await api_.handle(std::move(hreq));
    CHORUS_LOG(Debug, "hs", method << " " << target << " -> " << hres.status);

    http::response<http::string_body> res{static_cast<http::status>(hres.status), req.version()};
    res.set(http::field::server, "chorus-hs");
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-cache, no-store, must-revalidate");
    addCors(res);
    for (auto& [k, v] : hres.headers) res.set(k, v);
    res.body() = std::move(hres.body);
    res.keep_alive(req.keep_alive() && !stopping_);
    res.prepare_payload();
    stream.expires_after(kIoTimeout);
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    (void)wn;
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
  streams_.erase(&stream);
  idle_.erase(&stream);
  --live_;
  if (auto it = per_address_.find(peer); it != per_address_.end() && --it->second == 0)
    per_address_.erase(it);
}

}  // namespace chorus::hs
