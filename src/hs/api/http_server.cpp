#include "hs/api/http_server.hpp"

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
constexpr auto kIdleTimeout = std::chrono::seconds(75);
constexpr auto kIoTimeout = std::chrono::seconds(30);

void addCors(http::response<http::string_body>& res) {
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
  res.set(http::field::access_control_allow_headers, "X-Requested-With, Content-Type, Authorization, Date");
  res.set(http::field::access_control_max_age, "86400");
}
}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, Router& router, const Config& cfg)
    : ioc_(ioc), router_(router), cfg_(cfg), acceptor_(ioc) {}

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
    if (streams_.size() >= cfg_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  streams_.insert(&stream);
  beast::flat_buffer buffer;
  for (;;) {
    if (stopping_) break;
    http::request_parser<http::string_body> parser;
    parser.body_limit(cfg_.max_body_bytes);
    parser.header_limit(64 * 1024);
    stream.expires_after(kIdleTimeout);
    idle_.insert(&stream);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    idle_.erase(&stream);
    (void)n;
    if (ec) {
      if (ec == http::error::body_limit) {
        http::response<http::string_body> res{http::status::payload_too_large, 11};
        res.set(http::field::content_type, "application/json");
        addCors(res);
        res.body() = R"({"errcode":"M_TOO_LARGE","error":"Request body too large"})";
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(kIoTimeout);
        co_await http::async_write(stream, res, kTuple);
        // Lingering close: read and drop what the client is still sending (bounded), so that closing with
        // unread data does not reset the connection and destroy the 413 before the client has read it.
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
      } else if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
                 ec != beast::error::timeout && ec != asio::error::connection_reset &&
                 ec != asio::error::eof) {
        http::response<http::string_body> res{http::status::bad_request, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"errcode":"M_UNKNOWN","error":"Malformed HTTP request"})";
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(kIoTimeout);
        co_await http::async_write(stream, res, kTuple);
      }
      break;
    }
    auto req = parser.release();
    stream.expires_never();  // a /sync long-poll may take its time; the router bounds it
    HttpRequest hreq;
    hreq.method = std::string(req.method_string());
    hreq.target = std::string(req.target());
    hreq.authorization = std::string(req[http::field::authorization]);
    hreq.body = std::move(req.body());
    const std::string method = hreq.method;
    const std::string target = hreq.target.substr(0, hreq.target.find('?'));  // no tokens in logs
    HttpResponse hres = co_await router_.handle(std::move(hreq));
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
}

}  // namespace chorus::hs
