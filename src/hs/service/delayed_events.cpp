// MSC4140 delayed events: scheduled in the store, sent by runDueDelayed() when due, with the auth rules
// (power levels included) evaluated at send time.
#include "hs/service/homeserver.hpp"
#include "hs/service/json_args.hpp"
#include "hs/service/password.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

json::object describe(const DelayedRow& d) {
  boost::system::error_code ec;
  json::value content = json::parse(d.content, ec);
  json::object o{{"delay_id", d.delay_id},
                 {"room_id", d.room_id},
                 {"type", d.type},
                 {"delay_ms", d.delay_ms},
                 {"running_since", d.send_at - d.delay_ms},
                 {"scheduled_at", d.send_at},
                 {"content", ec ? json::value(json::object{}) : std::move(content)},
                 {"status", d.status}};
  if (d.state_key) o["state_key"] = *d.state_key;
  if (!d.event_id.empty()) o["event_id"] = d.event_id;
  if (!d.error.empty()) o["error"] = json::object{{"errcode", d.error}};
  if (d.finalised_ts) o["finalised_ts"] = d.finalised_ts;
  return o;
}

MxError conflict(const std::string& why) {
  return mxError(409, "M_UNKNOWN", why);
}

}  // namespace

MxResult<json::object> Homeserver::scheduleDelayed(const Auth& auth, const std::string& room_id,
                                                   const std::string& type,
                                                   const std::optional<std::string>& state_key,
                                                   const json::object& content, std::int64_t delay_ms,
                                                   const std::string& txn_id, bool final_api) try {
  if (type.empty() || type.size() > 255) return invalidParam("Invalid event type");
  const std::string kind = "delayed\n" + room_id;
  if (!txn_id.empty()) {
    if (auto prior = store_.txn(auth.token, kind, txn_id)) {
      boost::system::error_code ec;
      auto v = json::parse(*prior, ec);
      if (!ec && v.is_object()) return v.get_object();
    }
  }
  if (delay_ms <= 0) return invalidParam("'delay' must be a positive number of milliseconds");
  if (delay_ms > cfg_.max_delay_ms) {
    if (final_api) {
      return forbidden("delay_ms exceeds the maximum of " + std::to_string(cfg_.max_delay_ms) + " ms");
    }
    MxError e = mxError(400, "M_UNKNOWN", "The requested delay exceeds the allowed maximum");
    e.extra["org.matrix.msc4140.errcode"] = "M_MAX_DELAY_EXCEEDED";
    e.extra["org.matrix.msc4140.max_delay"] = cfg_.max_delay_ms;
    return e;
  }
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  if (state_key && !state_key->empty() && (*state_key)[0] == '@' && *state_key != auth.user_id) {
    return forbidden("State key " + *state_key + " is a user ID other than the sender " + auth.user_id);
  }
  if (store_.countScheduled(auth.user_id) >= cfg_.max_scheduled_per_user) {
    MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Too many scheduled delayed events");
    e.extra["retry_after_ms"] = 1000;
    return e;
  }
  const std::string text = json::serialize(content);
  if (text.size() > cfg_.max_event_bytes) return mxError(413, "M_TOO_LARGE", "Event content too large");
  DelayedRow d;
  d.delay_id = "syd_" + randomAlnum(20);
  d.user_id = auth.user_id;
  d.device_id = auth.device_id;
  d.room_id = room_id;
  d.type = type;
  d.state_key = state_key;
  d.content = text;
  d.delay_ms = delay_ms;
  d.send_at = clock_.nowMs() + delay_ms;
  d.status = "scheduled";
  json::object out{{"delay_id", d.delay_id}};
  auto txn = store_.begin();
  store_.insertDelayed(d);
  if (!txn_id.empty()) store_.insertTxn(auth.token, kind, txn_id, json::serialize(out));
  txn.commit();
  delayed_changed_ = true;
  return out;
} catch (const StoreError& e) {
  return storeFailure("scheduleDelayed", e);
}

MxResult<json::object> Homeserver::sendDelayedNow(DelayedRow& d) {
  boost::system::error_code ec;
  json::value v = json::parse(d.content, ec);
  json::object content = (!ec && v.is_object()) ? v.get_object() : json::object{};
  d.finalised_ts = clock_.nowMs();
  MxStatus st = store_.roomExists(d.room_id) ? checkAuth(d.room_id, d.user_id, d.type, d.state_key, content)
                                             : MxStatus(notFound("Unknown room " + d.room_id));
  if (st) {
    auto txn = store_.begin();
    auto e = appendEvent(d.room_id, d.user_id, d.type, d.state_key, content, "", "");
    if (e) {
      d.status = "sent";
      d.event_id = e->event_id;
      store_.updateDelayed(d);
      txn.commit();
      delayed_changed_ = true;
      return json::object{};
    }
    st = e.error();
  }
  d.status = "failed";
  d.error = st.error().errcode;
  auto txn = store_.begin();
  store_.updateDelayed(d);
  txn.commit();
  delayed_changed_ = true;
  return st.error();
}

MxResult<json::object> Homeserver::delayedAction(const Auth& auth, const std::string& delay_id,
                                                 const std::string& action) try {
  if (action != "send" && action != "cancel" && action != "restart") {
    return invalidParam("'action' must be one of send, cancel, restart");
  }
  auto d = store_.delayed(delay_id);
  if (!d || d->user_id != auth.user_id) return notFound("Unknown delayed event " + delay_id);
  if (d->status != "scheduled") {
    const bool same =
        (action == "send" && d->status == "sent") || (action == "cancel" && d->status == "cancelled");
    if (same) return json::object{};
    return conflict("Delayed event " + delay_id + " is already " + d->status);
  }
  if (action == "restart") {
    d->send_at = clock_.nowMs() + d->delay_ms;
  } else if (action == "cancel") {
    d->status = "cancelled";
    d->finalised_ts = clock_.nowMs();
  } else {
    auto r = sendDelayedNow(*d);
    if (!r) return r.error();
    return json::object{};
  }
  auto txn = store_.begin();
  store_.updateDelayed(*d);
  txn.commit();
  delayed_changed_ = true;
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("delayedAction", e);
}

MxResult<json::object> Homeserver::delayedList(const Auth& auth) try {
  json::array scheduled, finalised;
  for (const auto& d : store_.delayedOfUser(auth.user_id)) {
    (d.status == "scheduled" ? scheduled : finalised).push_back(describe(d));
  }
  json::object out{
      {"delayed_events", scheduled}, {"scheduled", scheduled}, {"finalised", std::move(finalised)}};
  return out;
} catch (const StoreError& e) {
  return storeFailure("delayedList", e);
}

MxResult<json::object> Homeserver::delayedGet(const Auth& auth, const std::string& delay_id) try {
  auto d = store_.delayed(delay_id);
  if (!d || d->user_id != auth.user_id) return notFound("Unknown delayed event " + delay_id);
  return describe(*d);
} catch (const StoreError& e) {
  return storeFailure("delayedGet", e);
}

std::optional<std::int64_t> Homeserver::nextDelayedDue() {
  auto q = store_.db().query("SELECT MIN(send_at) FROM delayed_events WHERE status = 'scheduled'");
  if (q->step() && !q->colIsNull(0)) return q->colInt(0);
  return std::nullopt;
}

int Homeserver::runDueDelayed() {
  int n = 0;
  const std::int64_t now = clock_.nowMs();
  for (auto& d : store_.scheduledDelayed()) {
    if (d.send_at > now) break;  // ordered by send_at
    (void)sendDelayedNow(d);
    ++n;
  }
  return n;
}

}  // namespace chorus::hs
