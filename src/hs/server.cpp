#include "hs/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>

#include "base/log.hpp"
#include "hs/api/client_api.hpp"
#include "hs/api/http_server.hpp"
#include "hs/api/notifier.hpp"
#include "hs/service/homeserver.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace asio = boost::asio;

namespace {

// The data dir remembers its server name; a mismatch would mint IDs of another server.
Status checkServerName(Store& store, const std::string& server_name) {
  auto stored = store.meta("server_name");
  if (!stored) {
    auto txn = store.begin();
    store.setMeta("server_name", server_name);
    txn.commit();
    return ok();
  }
  if (*stored != server_name) {
    return fail(Code::FailedPrecondition,
                "data dir belongs to server name '" + *stored + "', not '" + server_name + "'");
  }
  return ok();
}

}  // namespace

struct Server::Impl final : Homeserver::Listener {
  explicit Impl(const ServerConfig& cfg)
      : cfg(cfg),
        store(cfg.data_dir, cfg.synchronous),
        hs(cfg, store, clock, this),
        notifier(ioc),
        api(hs, notifier, cfg),
        http(ioc, api, cfg),
        delayed_timer(ioc) {}

  void onUserWake(const std::string& user_id) override { notifier.wake(user_id); }
  void onDelayedScheduleChanged() override {
    if (!reschedule_posted) {
      reschedule_posted = true;
      asio::post(ioc, [this] {
        reschedule_posted = false;
        rescheduleDelayed();
      });
    }
  }

  void rescheduleDelayed() {
    if (stopping) return;
    std::optional<std::int64_t> due;
    try {
      due = hs.nextDelayedDue();
    } catch (const StoreError& e) {
      CHORUS_LOG(Error, "hs", "delayed events: " << e.what());
      due = clock.nowMs() + 1000;
    }
    delayed_timer.cancel();
    if (!due) return;
    const std::int64_t wait = std::max<std::int64_t>(0, *due - clock.nowMs());
    delayed_timer.expires_after(std::chrono::milliseconds(wait));
    delayed_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping) return;
      try {
        hs.runDueDelayed();
      } catch (const StoreError& e) {
        CHORUS_LOG(Error, "hs", "delayed events: " << e.what());
      }
      hs.flushWakes();
      rescheduleDelayed();
    });
  }

  const ServerConfig& cfg;
  SystemClock clock;
  asio::io_context ioc{1};
  Store store;
  Homeserver hs;
  Notifier notifier;
  ClientApi api;
  HttpServer http;
  asio::steady_timer delayed_timer;
  bool reschedule_posted{false};
  bool stopping{false};
  std::thread thread;
};

Server::Server(ServerConfig cfg) : cfg_(std::move(cfg)) {}

Server::~Server() {
  stop();
}

Status Server::start() {
  if (impl_) return fail(Code::FailedPrecondition, "already started");
  if (cfg_.data_dir.empty()) return fail(Code::InvalidArgument, "no data dir");
  try {
    impl_ = std::make_unique<Impl>(cfg_);
    if (auto st = checkServerName(impl_->store, cfg_.server_name); !st) {
      impl_.reset();
      return st;
    }
  } catch (const StoreError& e) {
    impl_.reset();
    return fail(Code::Unavailable, std::string("store: ") + e.what());
  }
  if (auto st = impl_->http.listen(cfg_.listen_host, cfg_.listen_port); !st) {
    impl_.reset();
    return st;
  }
  impl_->http.start();
  impl_->rescheduleDelayed();  // catches up on delayed events that fell due while we were down
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->ioc.run();
        break;
      } catch (const std::exception& e) {
        CHORUS_LOG(Error, "hs", "I/O loop: " << e.what());
      }
    }
  });
  return ok();
}

void Server::stop() {
  if (!impl_) return;
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl] {
    impl->stopping = true;
    impl->delayed_timer.cancel();
    impl->http.stop();
    impl->notifier.wakeAll();
  });
  // In-flight requests finish and their connections close; then run() runs out of work. Bound the wait.
  std::thread watchdog;
  {
    // A detached check: if connections linger (e.g. a slow client), force the loop to stop after 3 s.
    watchdog = std::thread([impl] {
      for (int i = 0; i < 300 && !impl->ioc.stopped(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      impl->ioc.stop();
    });
  }
  if (impl->thread.joinable()) impl->thread.join();
  impl->ioc.stop();
  watchdog.join();
  impl_.reset();
}

std::uint16_t Server::port() const {
  return impl_ ? impl_->http.port() : 0;
}

std::string Server::baseUrl() const {
  return "http://" + cfg_.listen_host + ":" + std::to_string(port());
}

Result<std::string> Server::registerUser(const ServerConfig& cfg, const std::string& localpart,
                                         const std::string& password, bool admin) {
  try {
    Store store(cfg.data_dir, cfg.synchronous);
    if (auto st = checkServerName(store, cfg.server_name); !st) return fail(st.error());
    SystemClock clock;
    Homeserver hs(cfg, store, clock, nullptr);
    auto r = hs.createUser(localpart, password, admin);
    if (!r) return fail(Code::InvalidArgument, r.error().errcode + ": " + r.error().error);
    return *r;
  } catch (const StoreError& e) {
    return fail(Code::Unavailable, std::string("store: ") + e.what());
  }
}

}  // namespace chorus::hs
