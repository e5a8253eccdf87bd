#pragma once
// HTTP/1.1 server on Boost.Beast: one coroutine per connection on a single-threaded io_context.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http/fields.hpp>

#include "base/result.hpp"
#include "hs/api/client_api.hpp"
#include "hs/config.hpp"

namespace chorus::hs {

class HttpServer {
 public:
  // Borrowed: all outlive the server.
  HttpServer(boost::asio::io_context& ioc, ClientApi& api, const ServerConfig& cfg);

  // What connection caps and login limits count as one client: an IPv4 address (also when IPv4-mapped), or
  // the /64 prefix of an IPv6 address (one host usually owns a whole /64 and can pick any address in it).
  static boost::asio::ip::address clientKey(const boost::asio::ip::address& peer);

  // Binds and listens; port 0 picks a free port.
  Status listen(const std::string& host, std::uint16_t port);
  std::uint16_t port() const { return port_; }
  // Starts accepting (call after listen, from any thread before the loop runs or on the loop).
  void start();
  // Loop thread: stops accepting, closes idle connections; in-flight requests finish and then close.
  void stop();
  std::size_t connections() const { return live_; }

  // RFC 9112 §6.1/§6.3 framing of a request head: 0 when acceptable, else the status to answer (400 or 501)
  // before closing. Only "Transfer-Encoding: chunked" is understood, and never together with Content-Length.
  static int framingError(const boost::beast::http::fields& head);

 private:
  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, boost::asio::ip::address peer);

  boost::asio::io_context& ioc_;
  ClientApi& api_;
  const ServerConfig& cfg_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_{0};
  bool stopping_{false};
  std::set<boost::beast::tcp_stream*> streams_;  // live connections; bounded by cfg.max_connections
  std::set<boost::beast::tcp_stream*> idle_;     // of those, the ones waiting for a request
  std::size_t refused_{0};
  std::size_t live_{0};  // accepted and not yet closed (counted before the session runs)
  std::map<boost::asio::ip::address, std::size_t>
      per_address_;  // live connections per peer; <= live_ entries
};

}  // namespace chorus::hs
