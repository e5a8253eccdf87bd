#include "session/call_session.hpp"

#include "base/log.hpp"
#include "proto/event_types.hpp"

namespace chorus::session {

namespace json = boost::json;

CallSession::CallSession(matrix::EventLoop& loop, matrix::Client& client, SessionConfig config,
                         MediaBackend* media, Notify notify)
    : loop_(loop),
      client_(client),
      config_(std::move(config)),
      media_(media),
      notify_(std::move(notify)),
      to_device_(
          matrix::ToDeviceQueue::Limits{},
          [this](const proto::SendToDevice& m,
                 std::function<void(Result<matrix::OlmChannel::Sealed>)> sealed) {
            if (!olm_) return sealed(matrix::OlmChannel::Sealed{m.type, m.content, false});
            // A device with keys but no session gets nothing (never a plaintext fallback): core's retry path.
            olm_->seal(m.user_id, m.device_id, m.type, m.content, room_encrypted_, std::move(sealed));
          },
          client_,
          [this](const proto::SendToDevice& m, const Status& result) {
            if (!result) {
              CHORUS_LOG(Warn, "matrix", "sendToDevice " << m.type << " failed: " << result.error().message);
              execute(call_->handle(core::in::RequestFailed{m.id, result.error()}));
            }
            checkIdle();
          }) {}

CallSession::~CallSession() {
  if (wake_timer_) loop_.cancelTimer(*wake_timer_);
  if (restart_timer_) loop_.cancelTimer(*restart_timer_);
}

void CallSession::start(Ready ready) {
  ready_ = std::move(ready);
  config_.core.user_id = client_.userId();
  config_.core.device_id = client_.deviceId();
  if (config_.core.session_id.empty()) config_.core.session_id = rng_.alnum(10);
  call_ = std::make_unique<core::GroupCall>(config_.core, clock_, rng_);
  if (auto st = openOlm(); !st) {
    if (ready_) ready_(fail(st.error().code, "Olm state: " + st.error().message));
    ready_ = nullptr;
    return;
  }
  client_.versions([this](Result<json::object> r) {
    if (r) {
      if (const auto* uf = r->if_contains("unstable_features"); uf && uf->is_object()) {
        const auto* f = uf->as_object().if_contains("org.matrix.msc4140");
        delayed_supported_ = config_.use_delayed_events && f && f->is_bool() && f->as_bool();
      }
    }
    CHORUS_LOG(Info, "matrix",
               "MSC4140 delayed events " << (delayed_supported_ ? "supported" : "not available"));
    client_.joinRoom(config_.room, [this](Result<json::object> j) {
      if (!j) {
        if (ready_) ready_(fail(j.error().code, "joining " + config_.room + ": " + j.error().message));
        return;
      }
      const auto* rid = j->if_contains("room_id");
      if (!rid || !rid->is_string()) {
        if (ready_) ready_(fail(Code::DataLoss, "join reply lacks room_id"));
        return;
      }
      room_id_ = rid->as_string();
      afterJoin();
    });
  });
}

void CallSession::afterJoin() {
  // Our device keys go up before the first sync, so peers that see us in the call can encrypt to us.
  if (olm_) {
    olm_->uploadKeys(std::nullopt, std::nullopt, [this] { syncLoop(); });
    return;
  }
  syncLoop();
}

void CallSession::syncLoop() {
  sync_ = std::make_unique<matrix::SyncLoop>(
      loop_, client_, matrix::SyncLoop::Config{config_.sync_timeout_ms, 1'000, 30'000},
      [this] { return olm_ ? olm_->syncToken() : 0; },
      [this](const matrix::SyncBatch& batch, std::uint64_t key_token) {
        if (stopping_) return;
        onSync(batch, key_token);
        if (!initial_synced_) {
          initial_synced_ = true;
          core::in::Enter enter;
          enter.feeds = config_.feeds;
          enter.create_if_missing = config_.create_call;
          execute(call_->handle(enter));
          if (ready_) {
            ready_(ok());
            ready_ = nullptr;
          }
        }
      },
      [this](const Error& error, bool synced_once, TimeMs retry_in_ms) {
        if (stopping_) return false;
        CHORUS_LOG(Warn, "matrix",
                   "sync failed: " << error.message << "; retrying in " << retry_in_ms << " ms");
        if (error.code == Code::Unauthenticated && ready_ && !synced_once) {
          ready_(fail(error));
          ready_ = nullptr;
          return false;
        }
        return true;
      });
  sync_->start();
}

void CallSession::onSync(const matrix::SyncBatch& batch, std::uint64_t key_token) {
  auto it = batch.join.find(room_id_);
  if (it != batch.join.end()) {
    for (const auto& ev : it->second.state) {
      // Once a room is encrypted it stays so (the spec: clients ignore attempts to turn it off).
      if (ev.type == "m.room.encryption" && ev.state_key.empty() && !room_encrypted_) {
        const auto* alg = ev.content.if_contains("algorithm");
        if (alg && alg->is_string()) {
          room_encrypted_ = true;
          CHORUS_LOG(
              Info, "matrix",
              "room " << room_id_ << " is encrypted; call signalling "
                      << (olm_ ? "goes Olm-encrypted to devices with keys" : "stays plaintext (E2EE off)"));
        }
      }
    }
  }
  if (olm_) olm_->onSync(batch, key_token);
  if (it != batch.join.end() && !it->second.state.empty()) {
    execute(call_->handle(core::in::StateChanged{it->second.state}));
  }
  if (batch.leave.count(room_id_)) {
    notify_(core::act::Warning{"we are no longer in room " + room_id_});
  }
  for (const auto& m : batch.to_device) {
    if (olm_) {
      olm_->incoming(m);  // delivers through onToDevice
    } else if (m.type != crypto::kEncryptedEventType) {
      onToDevice(m, false);
    }  // E2EE off: nothing we can read
  }
  if (olm_) olm_->afterSync();
}

void CallSession::input(const core::Input& in) {
  if (!call_) return;
  execute(call_->handle(in));
}

void CallSession::execute(core::Actions actions) {
  if (abandoned_) return;
  for (auto& a : actions) {
    if (auto* p = std::get_if<core::act::PutState>(&a)) {
      putState(*p);
    } else if (auto* s = std::get_if<core::act::SendToDevice>(&a)) {
      sendToDevice(*s);
    } else if (auto* w = std::get_if<core::act::ScheduleWakeup>(&a)) {
      scheduleWakeup(w->at);
    } else if (core::isMediaAction(a)) {
      if (media_) media_->execute(a);
    } else if (notify_) {
      notify_(a);
    }
  }
}

void CallSession::scheduleWakeup(TimeMs at) {
  if (wake_timer_) loop_.cancelTimer(*wake_timer_);
  wake_timer_ = loop_.setTimer(at - clock_.nowMs(), [this] {
    wake_timer_.reset();
    execute(call_->handle(core::in::Tick{}));
    // The machine announces only changes; make sure a due deadline is never lost.
    if (auto next = call_->nextTimeout(); next && !wake_timer_) scheduleWakeup(*next);
  });
}

// ---------------------------------------------------------------- state

void CallSession::putState(const core::act::PutState& a) {
  const std::string key = a.type + "\n" + a.state_key;
  state_queues_[key].push_back(StateJob{a});
  ++outstanding_;
  flushStateQueue(key);
}

void CallSession::flushStateQueue(const std::string& key) {
  auto& q = state_queues_[key];
  if (state_busy_[key] || q.empty()) return;
  // Only the newest write to one (type, state_key) matters.
  while (q.size() > 1) {
    q.pop_front();
    --outstanding_;
  }
  state_busy_[key] = true;
  core::act::PutState a = q.front().action;
  auto send = [this, key, a] {
    client_.putState(room_id_, a.type, a.state_key, a.content, [this, key, a](Result<json::object> r) {
      if (!r) {
        CHORUS_LOG(Warn, "matrix", "PUT " << a.type << " failed: " << r.error().message);
        execute(call_->handle(core::in::RequestFailed{a.id, r.error()}));
      } else if (a.leave_content && delay_id_) {
        // Some servers cancel a delayed event when the same state key is written: check it is still there.
        restartDelayedLeave();
      }
      state_busy_[key] = false;
      state_queues_[key].pop_front();
      --outstanding_;
      flushStateQueue(key);
      checkIdle();
    });
  };
  const bool own_member = proto::isCallMemberEventType(a.type) && a.state_key == client_.userId();
  if (own_member && delayed_supported_) {
    if (a.leave_content) {
      // Join/refresh: (re)schedule the delayed leave with the matching content first, then write.
      if (!delayed_content_ || *delayed_content_ != *a.leave_content) {
        scheduleDelayedLeave(*a.leave_content, send);
        return;
      }
    } else if (delay_id_) {
      // Leaving: cancel the delayed leave, then write the leave ourselves.
      const std::string id = *delay_id_;
      delay_id_.reset();
      delayed_content_.reset();
      if (restart_timer_) loop_.cancelTimer(*restart_timer_);
      restart_timer_.reset();
      client_.delayedEventAction(id, "cancel", [send](Result<json::object>) { send(); });
      return;
    }
  }
  send();
}

void CallSession::scheduleDelayedLeave(const json::object& leave_content, std::function<void()> then) {
  auto schedule = [this, leave_content, then] {
    client_.putState(
        room_id_, std::string(proto::kCallMemberEventType), client_.userId(), leave_content,
        [this, leave_content, then](Result<json::object> r) {
          if (r) {
            if (const auto* id = r->if_contains("delay_id"); id && id->is_string()) {
              delay_id_ = std::string(id->as_string());
              delayed_content_ = leave_content;
              if (!restart_timer_) {
                restart_timer_ = loop_.setTimer(config_.delayed_restart_ms, [this] {
                  restart_timer_.reset();
                  restartDelayedLeave();
                });
              }
            }
          } else {
            CHORUS_LOG(
                Warn, "matrix",
                "could not schedule the delayed leave: " << r.error().message << "; relying on expires_ts");
          }
          then();
        },
        config_.delayed_leave_ms);
  };
  if (delay_id_) {
    const std::string old = *delay_id_;
    delay_id_.reset();
    client_.delayedEventAction(old, "cancel", [schedule](Result<json::object>) { schedule(); });
  } else {
    schedule();
  }
}

void CallSession::restartDelayedLeave() {
  if (!delay_id_ || stopping_) return;
  client_.delayedEventAction(*delay_id_, "restart", [this](Result<json::object> r) {
    if (!r && matrix::Client::errcodeOf(r.error()) == "M_NOT_FOUND" && delayed_content_) {
      // Gone (sent, cancelled by a state write, or the server restarted without it): schedule it again.
      delay_id_.reset();
      auto content = *delayed_content_;
      delayed_content_.reset();
      scheduleDelayedLeave(content, [] {});
      return;
    }
    if (!restart_timer_ && delay_id_) {
      restart_timer_ = loop_.setTimer(config_.delayed_restart_ms, [this] {
        restart_timer_.reset();
        restartDelayedLeave();
      });
    }
  });
}

// ---------------------------------------------------------------- to-device

void CallSession::sendToDevice(const core::act::SendToDevice& a) {
  if (to_device_.push(a)) return;
  // Over the queue's bounds (a peer that makes us answer without end): core hears of it like of a failed
  // send, on the next turn of the loop rather than inside the actions it is executing.
  CHORUS_LOG(Warn, "matrix",
             "to-device queue full; not sending " << a.type << " to " << a.user_id << "/" << a.device_id);
  loop_.post([this, id = a.id] {
    execute(
        call_->handle(core::in::RequestFailed{id, Error{Code::ResourceExhausted, "to-device queue full"}}));
  });
}

// ---------------------------------------------------------------- E2EE (issue #13, docs/e2ee.md)

Status CallSession::openOlm() {
  if (!config_.e2ee) return ok();
  auto channel =
      matrix::OlmChannel::open(key_transport_, clock_, client_.userId(), client_.deviceId(),
                               matrix::OlmStore{config_.olm_state_path, config_.olm_state_key},
                               [this](core::ToDeviceMessage m, bool encrypted) { onToDevice(m, encrypted); });
  if (!channel) return fail(channel.error());
  olm_ = std::move(*channel);
  return ok();
}

void CallSession::onToDevice(const core::ToDeviceMessage& m, bool encrypted) {
  if (!encrypted && room_encrypted_ && m.type.substr(0, 7) == "m.call.") ++plaintext_in_encrypted_room_;
  execute(call_->handle(core::in::ToDeviceReceived{m}));
}

matrix::E2eeCounters CallSession::e2eeCounters() const {
  matrix::E2eeCounters c;
  if (olm_) c.olm = olm_->counters();
  c.plaintext_in_encrypted_room = plaintext_in_encrypted_room_;
  return c;
}

// ---------------------------------------------------------------- leaving

void CallSession::whenIdle(std::function<void()> done) {
  idle_waiters_.push_back(std::move(done));
  checkIdle();
}

void CallSession::checkIdle() {
  if (outstanding_ != 0 || !to_device_.idle() || idle_waiters_.empty()) return;
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) w();
}

void CallSession::leave(std::function<void()> done) {
  if (!call_) {
    done();
    return;
  }
  execute(call_->handle(core::in::Leave{}));
  stopping_ = true;
  if (sync_) sync_->stop();
  if (restart_timer_) loop_.cancelTimer(*restart_timer_);
  restart_timer_.reset();
  whenIdle(std::move(done));
}

void CallSession::abandonForTest() {
  stopping_ = true;
  if (sync_) sync_->stop();
  abandoned_ = true;
  if (restart_timer_) loop_.cancelTimer(*restart_timer_);
  restart_timer_.reset();
  if (wake_timer_) loop_.cancelTimer(*wake_timer_);
  wake_timer_.reset();
}

void CallSession::terminate(std::function<void()> done) {
  if (!call_) {
    done();
    return;
  }
  execute(call_->handle(core::in::Terminate{}));
  stopping_ = true;
  if (sync_) sync_->stop();
  whenIdle(std::move(done));
}

}  // namespace chorus::session
