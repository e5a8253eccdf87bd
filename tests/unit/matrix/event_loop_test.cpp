// matrix::EventLoop's HTTP client against small scripted servers on 127.0.0.1 (a thread each): requests and
// replies, kept-alive connections reused and a stale one retried, timeouts, cancellation, bounds, bad URLs,
// chunked replies, TLS with the trust store (a certificate made here, trusted through $SSL_CERT_FILE) and an
// untrusted one refused, posts and stop from another thread.
#include "matrix/event_loop.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace chorus::matrix {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using Req = http::request<http::string_body>;
using Res = http::response<http::string_body>;
// Answers one request; returns false to close the connection without answering.
using Handler = std::function<bool(const Req&, Res&)>;

// A blocking HTTP/1.1 server on 127.0.0.1:0 serving `connections` connections one after the other.
class ScriptedServer {
 public:
  ScriptedServer(Handler handler, int connections, asio::ssl::context* tls = nullptr)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), handler_(std::move(handler)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, connections, tls] {
      for (int i = 0; i < connections; ++i) {
        boost::system::error_code ec;
        tcp::socket socket(io_);
        acceptor_.accept(socket, ec);
        if (ec) return;
        ++accepted_;
        if (tls != nullptr) {
          asio::ssl::stream<tcp::socket> s(std::move(socket), *tls);
          s.handshake(asio::ssl::stream_base::server, ec);
          if (ec) continue;  // the client refused us
          serve(s);
        } else {
          serve(socket);
        }
      }
    });
  }
  ~ScriptedServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    if (thread_.joinable()) thread_.join();
  }
  std::string url(const std::string& path, bool https = false) const {
    return std::string(https ? "https" : "http") + "://" + (https ? "localhost" : "127.0.0.1") + ":" +
           std::to_string(port_) + path;
  }
  int accepted() const { return accepted_; }

 private:
  template <class Stream>
  void serve(Stream& s) {
    beast::flat_buffer buffer;
    while (true) {
      Req req;
      boost::system::error_code ec;
      http::read(s, buffer, req, ec);
      if (ec) return;
      Res res{http::status::ok, 11};
      if (!handler_(req, res)) return;
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec || !res.keep_alive()) return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  Handler handler_;
  std::uint16_t port_{0};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Reads one request and never answers it (until destroyed, which lets its thread end).
struct SilentServer {
  std::atomic<bool> release{false};
  ScriptedServer server{[this](const Req&, Res&) {
                          while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                          return false;
                        },
                        1};
  ~SilentServer() { release = true; }
};

// Runs `loop` until `done` (checked after every callback) or 10 s.
void runUntil(EventLoop& loop, const std::function<bool()>& done) {
  std::function<void()> check = [&] {
    if (done()) return loop.stop();
    loop.setTimer(5, check);
  };
  loop.setTimer(0, check);
  const auto guard = loop.setTimer(10'000, [&] { loop.stop(); });
  loop.run();
  loop.cancelTimer(guard);
}

HttpResponse fetch(EventLoop& loop, HttpRequest req) {
  std::optional<HttpResponse> out;
  loop.request(std::move(req), [&](HttpResponse r) { out = std::move(r); });
  runUntil(loop, [&] { return out.has_value(); });
  EXPECT_TRUE(out.has_value());
  return out.value_or(HttpResponse{});
}

TEST(EventLoopTest, RequestsCarryMethodHeadersAndBodyAndReuseTheConnection) {
  ScriptedServer server(
      [](const Req& req, Res& res) {
        res.body() = std::string(req.method_string()) + " " + std::string(req.target()) + " " +
                     std::string(req[http::field::authorization]) + " " +
                     std::string(req[http::field::content_type]) + " [" + req.body() + "]";
        return true;
      },
      1);
  EventLoop loop;
  HttpRequest get;
  get.url = server.url("/_matrix/client/v3/sync?timeout=0&since=s1");
  get.headers = {"Authorization: Bearer tok"};
  auto r = fetch(loop, get);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /_matrix/client/v3/sync?timeout=0&since=s1 Bearer tok  []");

  HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/_matrix/client/v3/sendToDevice/m.call.invite/t%201");
  put.body = R"({"messages":{}})";
  r = fetch(loop, put);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"(PUT /_matrix/client/v3/sendToDevice/m.call.invite/t%201  application/json [{"messages":{}}])");
  EXPECT_EQ(loop.connectionsOpened(), 1u);  // kept alive
  EXPECT_EQ(loop.connectionsReused(), 1u);
  EXPECT_EQ(loop.inFlight(), 0u);
}

TEST(EventLoopTest, ErrorStatusesAreRepliesNotTransportFailures) {
  ScriptedServer server(
      [](const Req&, Res& res) {
        res.result(http::status::too_many_requests);
        res.body() = R"({"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":5})";
        return true;
      },
      1);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/x");
  const auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 429);
  EXPECT_TRUE(r.transport_error.empty());
  EXPECT_NE(r.body.find("M_LIMIT_EXCEEDED"), std::string::npos);
}

TEST(EventLoopTest, StaleConnectionIsRetriedOnce) {
  // First connection: one reply, then the server closes it without answering the second request; the client
  // must retry on a fresh connection (the second) transparently.
  int served = 0;
  ScriptedServer server(
      [&served](const Req&, Res& res) {
        ++served;
        if (served == 2) return false;  // close instead of answering
        res.body() = "ok " + std::to_string(served);
        return true;
      },
      2);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/a");
  EXPECT_EQ(fetch(loop, req).body, "ok 1");
  const auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.body, "ok 3");
  EXPECT_EQ(loop.connectionsOpened(), 2u);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(EventLoopTest, SilentServerTimesOut) {
  SilentServer silent;
  const auto& server = silent.server;
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/slow");
  req.timeout_ms = 200;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = fetch(loop, req);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("timed out"), std::string::npos) << r.transport_error;
  EXPECT_GE(ms, 150);
  EXPECT_LT(ms, 5000);
}

TEST(EventLoopTest, CancelledRequestNeverCallsBack) {
  SilentServer silent;
  const auto& server = silent.server;
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/poll");
  bool called = false;
  const auto id = loop.request(req, [&](HttpResponse) { called = true; });
  loop.setTimer(50, [&] { loop.cancelRequest(id); });
  bool waited = false;
  loop.setTimer(300, [&] { waited = true; });
  runUntil(loop, [&] { return waited; });
  EXPECT_FALSE(called);
  EXPECT_EQ(loop.inFlight(), 0u);
}

TEST(EventLoopTest, RefusedConnectionAndBadUrlAreTransportErrors) {
  EventLoop loop;
  // A port nobody listens on: bind one, close it.
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("cannot connect"), std::string::npos) << r.transport_error;

  for (const char* bad : {"ftp://x/", "http://", "http://host:99999/", "http://user@host/", "no url"}) {
    req.url = bad;
    bool inside = true;
    std::optional<HttpResponse> out;
    loop.request(req, [&](HttpResponse x) {
      EXPECT_FALSE(inside) << "called back inside request()";
      out = std::move(x);
    });
    inside = false;
    runUntil(loop, [&] { return out.has_value(); });
    ASSERT_TRUE(out) << bad;
    EXPECT_EQ(out->status, 0) << bad;
    EXPECT_NE(out->transport_error.find("bad URL"), std::string::npos) << bad;
  }
}

TEST(EventLoopTest, OversizedHeadersAreRefused) {
  ScriptedServer server(
      [](const Req&, Res& res) {
        res.set("X-Big-1", std::string(40 * 1024, 'a'));  // 80 KiB of header in all
        res.set("X-Big-2", std::string(40 * 1024, 'b'));
        return true;
      },
      1);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/");
  const auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.transport_error.empty());
}

TEST(EventLoopTest, ChunkedReplyIsDecoded) {
  ScriptedServer server(
      [](const Req&, Res& res) {
        res.chunked(true);
        res.body() = std::string(10000, 'x') + "end";
        return true;
      },
      1);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/");
  const auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 10003u);
  EXPECT_TRUE(r.body.ends_with("end"));
}

TEST(EventLoopTest, PostAndStopFromAnotherThread) {
  EventLoop loop;
  std::atomic<int> ran{0};
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.post([&] { ++ran; });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.stop();
  });
  const auto guard = loop.setTimer(10'000, [&] { loop.stop(); });
  const auto t0 = std::chrono::steady_clock::now();
  loop.run();
  other.join();
  loop.cancelTimer(guard);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// ---- TLS ----

struct Pem {
  std::string cert;
  std::string key;
};

std::string bioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A self-signed certificate for localhost / 127.0.0.1.
Pem makeCertificate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  Pem pem;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  pem.cert = bioString(b);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  pem.key = bioString(b);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

std::string writeTemp(const std::string& text) {
  char path[] = "/tmp/chorus-event-loop-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  FILE* f = fdopen(fd, "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

class EventLoopTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_pem_ = makeCertificate();
    tls_.use_certificate_chain(asio::buffer(server_pem_.cert));
    tls_.use_private_key(asio::buffer(server_pem_.key), asio::ssl::context::pem);
    const char* old = std::getenv("SSL_CERT_FILE");
    if (old != nullptr) saved_ = old;
  }
  void TearDown() override {
    if (saved_) {
      setenv("SSL_CERT_FILE", saved_->c_str(), 1);
    } else {
      unsetenv("SSL_CERT_FILE");
    }
    for (const auto& f : files_) std::remove(f.c_str());
  }
  void trust(const std::string& cert_pem) {
    files_.push_back(writeTemp(cert_pem));
    setenv("SSL_CERT_FILE", files_.back().c_str(), 1);  // read by the EventLoop made after this
  }

  Pem server_pem_;
  asio::ssl::context tls_{asio::ssl::context::tls_server};
  std::optional<std::string> saved_;
  std::vector<std::string> files_;
};

TEST_F(EventLoopTlsTest, TrustedServerIsReachedOverHttps) {
  trust(server_pem_.cert);
  ScriptedServer server(
      [](const Req& req, Res& res) {
        res.body() = "secure " + std::string(req.target());
        return true;
      },
      1, &tls_);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/_matrix/client/versions", true);
  auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.body, "secure /_matrix/client/versions");
  r = fetch(loop, req);  // the TLS connection is kept alive
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(loop.connectionsOpened(), 1u);
}

TEST_F(EventLoopTlsTest, UntrustedCertificateIsRefused) {
  trust(makeCertificate().cert);  // some other certificate
  bool answered = false;
  ScriptedServer server(
      [&answered](const Req&, Res&) {
        answered = true;
        return true;
      },
      1, &tls_);
  EventLoop loop;
  HttpRequest req;
  req.url = server.url("/", true);
  const auto r = fetch(loop, req);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.transport_error.find("TLS"), std::string::npos) << r.transport_error;
  EXPECT_FALSE(answered);
}

}  // namespace
}  // namespace chorus::matrix
