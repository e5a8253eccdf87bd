#include "matrix/event_loop.hpp"

#include <curl/curl.h>

#include <chrono>

#include "base/assert.hpp"
#include "base/log.hpp"

namespace chorus::matrix {

struct EventLoop::Pending {
  TaskId id{0};
  CURL* easy{nullptr};
  curl_slist* headers{nullptr};
  std::string body;
  std::string response;
  Callback cb;
  ~Pending() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

namespace {
constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;  // a homeserver reply larger than this is refused

size_t writeBody(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxResponseBytes) return 0;  // aborts the transfer
  out->append(data, size * n);
  return size * n;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
}  // namespace

EventLoop::EventLoop() {
  static CurlGlobal global;
  multi_ = curl_multi_init();
  CHORUS_CHECK(multi_ != nullptr, "curl_multi_init failed");
}

EventLoop::~EventLoop() {
  for (auto& [id, p] : requests_) curl_multi_remove_handle(static_cast<CURLM*>(multi_), p->easy);
  requests_.clear();
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

TimeMs EventLoop::nowMs() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

EventLoop::TaskId EventLoop::request(HttpRequest req, Callback cb) {
  auto p = std::make_unique<Pending>();
  p->id = ++next_id_;
  p->easy = curl_easy_init();
  p->cb = std::move(cb);
  p->body = std::move(req.body);
  CURL* e = p->easy;
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method != "GET") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(p->body.size()));
  }
  if (req.method == "GET") curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  for (const auto& h : req.headers) p->headers = curl_slist_append(p->headers, h.c_str());
  if (!p->body.empty() || req.method == "PUT" || req.method == "POST") {
    p->headers = curl_slist_append(p->headers, "Content-Type: application/json");
  }
  p->headers = curl_slist_append(p->headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, writeBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &p->response);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<void*>(static_cast<std::uintptr_t>(p->id)));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "chorus/0.1");
  curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
  const TaskId id = p->id;
  requests_.emplace(id, std::move(p));
  return id;
}

void EventLoop::cancelRequest(TaskId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), it->second->easy);
  requests_.erase(it);
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
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void EventLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
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

void EventLoop::completeTransfers() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(static_cast<CURLM*>(multi_), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    void* priv = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    const TaskId id = static_cast<TaskId>(reinterpret_cast<std::uintptr_t>(priv));
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    auto p = std::move(it->second);
    requests_.erase(it);
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), p->easy);
    HttpResponse resp;
    if (msg->data.result == CURLE_OK) {
      curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &resp.status);
      resp.body = std::move(p->response);
    } else {
      resp.transport_error = curl_easy_strerror(msg->data.result);
    }
    if (p->cb) p->cb(std::move(resp));
  }
}

void EventLoop::run() {
  while (true) {
    runPosted();
    if (stopped()) break;
    runTimers();
    int running = 0;
    curl_multi_perform(static_cast<CURLM*>(multi_), &running);
    completeTransfers();
    runPosted();
    if (stopped()) break;
    long curl_timeout = -1;
    curl_multi_timeout(static_cast<CURLM*>(multi_), &curl_timeout);
    TimeMs wait = 1000;
    if (curl_timeout >= 0) wait = std::min<TimeMs>(wait, curl_timeout);
    if (!timers_.empty())
      wait = std::min<TimeMs>(wait, std::max<TimeMs>(0, timers_.begin()->first - nowMs()));
    if (wait > 0) curl_multi_poll(static_cast<CURLM*>(multi_), nullptr, 0, static_cast<int>(wait), nullptr);
  }
  // A later run() runs again.
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = false;
}

}  // namespace chorus::matrix
