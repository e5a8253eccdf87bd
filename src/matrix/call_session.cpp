#include "matrix/call_session.hpp"

#include "base/log.hpp"
#include "proto/event_types.hpp"

namespace chorus::matrix {

namespace json = boost::json;

CallSession::CallSession(EventLoop& loop, Client& client, SessionConfig config, MediaBackend* media,
                         Notify notify)
    : loop_(loop), client_(client), config_(std::move(config)), media_(media), notify_(std::move(notify)) {}

CallSession::~CallSession() {
  if (wake_timer_) loop_.cancelTimer(*wake_timer_);
  if (restart_timer_) loop_.cancelTimer(*restart_timer_);
  persistOlm();
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
    uploadKeys(std::nullopt, std::nullopt, [this] { syncLoop(); });
    return;
  }
  syncLoop();
}

void CallSession::syncLoop() {
  if (stopping_) return;
  const TimeMs timeout = initial_synced_ ? config_.sync_timeout_ms : 0;
  const std::uint64_t epoch = upload_epoch_;
  client_.sync(since_, timeout, [this, epoch](Result<json::object> r) {
    if (stopping_) return;
    if (!r) {
      sync_backoff_ms_ = std::min<TimeMs>(30'000, sync_backoff_ms_ ? sync_backoff_ms_ * 2 : 1'000);
      CHORUS_LOG(Warn, "matrix",
                 "sync failed: " << r.error().message << "; retrying in " << sync_backoff_ms_ << " ms");
      if (r.error().code == Code::Unauthenticated && ready_ && !initial_synced_) {
        ready_(fail(r.error()));
        ready_ = nullptr;
        return;
      }
      loop_.setTimer(sync_backoff_ms_, [this] { syncLoop(); });
      return;
    }
    sync_backoff_ms_ = 0;
    std::size_t skipped = 0;
    auto batch = parseSyncResponse(*r, &skipped);
    sync_events_skipped_ += skipped;
    if (!batch) {
      CHORUS_LOG(Warn, "matrix", "unusable sync reply: " << batch.error().message);
      loop_.setTimer(1'000, [this] { syncLoop(); });
      return;
    }
    ++syncs_;
    since_ = batch->next_batch;
    onSync(*batch, epoch == upload_epoch_ && !upload_in_flight_);
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
    syncLoop();
  });
}

void CallSession::onSync(const SyncBatch& batch, bool key_counts_fresh) {
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
  if (olm_) {
    for (const auto& u : batch.device_lists_changed) queried_users_.erase(u);
    if (key_counts_fresh && (batch.one_time_key_count || batch.fallback_key_unused)) {
      uploadKeys(batch.one_time_key_count, batch.fallback_key_unused, nullptr);
    }
  }
  if (it != batch.join.end() && !it->second.state.empty()) {
    execute(call_->handle(core::in::StateChanged{it->second.state}));
  }
  if (batch.leave.count(room_id_)) {
    notify_(core::act::Warning{"we are no longer in room " + room_id_});
  }
  for (const auto& m : batch.to_device) onToDevice(m);
  if (olm_) {
    for (const auto& [user, device] : olm_->takeWedged()) unwedge(user, device);
  }
  persistOlm();
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
    if (!r && Client::errcodeOf(r.error()) == "M_NOT_FOUND" && delayed_content_) {
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
  const std::string key = a.user_id + "\n" + a.device_id;
  device_queues_[key].push_back(DeviceJob{a, client_.newTxnId()});
  ++outstanding_;
  flushDeviceQueue(key);
}

void CallSession::flushDeviceQueue(const std::string& key) {
  auto& q = device_queues_[key];
  if (device_busy_[key] || q.empty()) return;
  device_busy_[key] = true;
  if (olm_ && room_encrypted_) {
    const auto& a = q.front().action;
    prepareOlm(a.user_id, a.device_id, [this, key](OlmRoute route) { sendFront(key, route); });
    return;
  }
  sendFront(key, OlmRoute::Plaintext);
}

void CallSession::sendFront(const std::string& key, OlmRoute route) {
  auto& q = device_queues_[key];
  const DeviceJob& job = q.front();
  std::string type = job.action.type;
  json::object content = job.action.content;
  if (route == OlmRoute::Encrypt) {
    auto enc = olm_->encrypt(job.action.user_id, job.action.device_id, job.action.type, job.action.content);
    persistOlm();
    if (enc) {
      type = std::string(crypto::kEncryptedEventType);
      content = std::move(*enc);
    } else {
      CHORUS_LOG(Warn, "matrix",
                 "Olm encryption to " << job.action.device_id << " failed: " << enc.error().message);
      route = OlmRoute::Fail;
    }
  }
  auto done = [this, key](Result<json::object> r) {
    auto& queue = device_queues_[key];
    if (!r) {
      CHORUS_LOG(Warn, "matrix",
                 "sendToDevice " << queue.front().action.type << " failed: " << r.error().message);
      execute(call_->handle(core::in::RequestFailed{queue.front().action.id, r.error()}));
    }
    queue.pop_front();
    device_busy_[key] = false;
    --outstanding_;
    flushDeviceQueue(key);
    checkIdle();
  };
  if (route == OlmRoute::Fail) {
    // The device publishes keys but no session could be made: never fall back to plaintext for it.
    done(fail(Code::FailedPrecondition,
              "no Olm session with " + job.action.user_id + " " + job.action.device_id));
    return;
  }
  if (route == OlmRoute::Plaintext && olm_ && room_encrypted_) ++plaintext_sent_in_encrypted_room_;
  json::object messages{{job.action.user_id, json::object{{job.action.device_id, std::move(content)}}}};
  // The txn id is fixed per message, so a retried send is never delivered twice.
  client_.sendToDevice(type, job.txn_id, std::move(messages), std::move(done));
}

// ---------------------------------------------------------------- E2EE (issue #13, docs/e2ee.md)

namespace {
constexpr std::size_t kMaxHeldPerSender = 64;
constexpr std::size_t kMaxHeldSenders = 64;
constexpr std::uint64_t kMaxOlmWarnings = 20;

bool isCallType(std::string_view type) {
  return type.substr(0, 7) == "m.call.";
}
}  // namespace

Status CallSession::openOlm() {
  if (!config_.e2ee) return ok();
  auto m = config_.olm_state_path.empty()
               ? crypto::OlmMachine::create(client_.userId(), client_.deviceId())
               : crypto::OlmMachine::open(config_.olm_state_path, config_.olm_state_key, client_.userId(),
                                          client_.deviceId());
  if (!m) return fail(m.error());
  olm_ = std::move(*m);
  CHORUS_LOG(Info, "matrix",
             "Olm device keys: curve25519 " << olm_->identityKeys().curve25519 << ", ed25519 "
                                            << olm_->identityKeys().ed25519
                                            << (config_.olm_state_path.empty() ? " (in memory only)" : ""));
  return ok();
}

void CallSession::persistOlm() {
  if (!olm_ || !olm_->dirty()) return;
  if (auto st = olm_->save(); !st && olm_warnings_++ < kMaxOlmWarnings) {
    CHORUS_LOG(Warn, "matrix", "saving the Olm state failed: " << st.error().message);
  }
}

void CallSession::uploadKeys(std::optional<std::int64_t> server_count, std::optional<bool> fallback_unused,
                             std::function<void()> then) {
  auto finish = [then] {
    if (then) then();
  };
  if (!olm_ || upload_in_flight_) return finish();
  auto body = olm_->keysToUpload(server_count, fallback_unused);
  persistOlm();  // new private keys are on disk before their public halves leave
  if (!body || !*body) {
    if (!body) CHORUS_LOG(Warn, "matrix", "building the key upload failed: " << body.error().message);
    return finish();
  }
  upload_in_flight_ = true;
  client_.keysUpload(std::move(**body), [this, finish](Result<json::object> r) {
    upload_in_flight_ = false;
    ++upload_epoch_;
    if (r) {
      olm_->keysUploaded();
      persistOlm();
    } else {
      CHORUS_LOG(Warn, "matrix", "key upload failed: " << r.error().message);
    }
    finish();
  });
}

void CallSession::onToDevice(const core::ToDeviceMessage& m) {
  if (m.type == crypto::kEncryptedEventType) {
    if (!olm_) return;  // E2EE off: nothing we can read
    auto d = olm_->decrypt(m.sender, m.content);
    if (!d) {
      if (olm_warnings_++ < kMaxOlmWarnings) {
        CHORUS_LOG(Warn, "matrix", "dropped m.room.encrypted from " << m.sender << ": " << d.error().message);
      }
      return;
    }
    if (auto h = held_.find(m.sender); h != held_.end()) {
      if (h->second.size() < kMaxHeldPerSender) {
        h->second.push_back(Held{std::move(*d), {}});
      } else {
        olm_->rejectUnverified();
      }
      return;
    }
    deliverDecrypted(std::move(*d));
    return;
  }
  if (room_encrypted_ && isCallType(m.type)) ++plaintext_in_encrypted_room_;
  if (auto h = held_.find(m.sender); h != held_.end()) {
    if (h->second.size() < kMaxHeldPerSender) h->second.push_back(Held{std::nullopt, m});
    return;
  }
  execute(call_->handle(core::in::ToDeviceReceived{m}));
}

void CallSession::deliverDecrypted(crypto::OlmMachine::Decrypted d) {
  const std::string sender = d.payload.sender;
  auto r = olm_->accept(d);
  if (!r) {
    if (r.error().code != Code::NotFound) {
      if (olm_warnings_++ < kMaxOlmWarnings) {
        CHORUS_LOG(Warn, "matrix", "dropped Olm message from " << sender << ": " << r.error().message);
      }
      return;
    }
    // The sender's device keys are not known yet: hold its messages (in order) and ask for them.
    if (held_.size() >= kMaxHeldSenders) {
      olm_->rejectUnverified();
      return;
    }
    held_[sender].push_back(Held{std::move(d), {}});
    queryKeys(sender, [this, sender] { releaseHeld(sender); });
    return;
  }
  if (!isCallType(r->type)) return;  // m.dummy and anything else that is not call signalling
  execute(call_->handle(
      core::in::ToDeviceReceived{core::ToDeviceMessage{r->type, r->sender, std::move(r->content)}}));
}

void CallSession::releaseHeld(const std::string& sender) {
  auto it = held_.find(sender);
  if (it == held_.end()) return;
  auto queue = std::move(it->second);
  held_.erase(it);
  for (auto& h : queue) {
    if (!h.decrypted) {
      execute(call_->handle(core::in::ToDeviceReceived{h.plain}));
      continue;
    }
    auto r = olm_->accept(std::move(*h.decrypted));
    if (!r) {
      if (r.error().code == Code::NotFound) olm_->rejectUnverified();
      if (olm_warnings_++ < kMaxOlmWarnings) {
        CHORUS_LOG(Warn, "matrix", "dropped Olm message from " << sender << ": " << r.error().message);
      }
      continue;
    }
    if (isCallType(r->type)) {
      execute(call_->handle(
          core::in::ToDeviceReceived{core::ToDeviceMessage{r->type, r->sender, std::move(r->content)}}));
    }
  }
  persistOlm();
}

void CallSession::queryKeys(const std::string& user_id, std::function<void()> then) {
  auto& waiters = query_waiters_[user_id];
  waiters.push_back(std::move(then));
  if (waiters.size() > 1) return;  // one /keys/query per user at a time
  client_.keysQuery(crypto::OlmMachine::keysQueryBody({user_id}), [this, user_id](Result<json::object> r) {
    if (r) {
      olm_->addQueryResult(*r);
      queried_users_.insert(user_id);
      persistOlm();
    } else if (olm_warnings_++ < kMaxOlmWarnings) {
      CHORUS_LOG(Warn, "matrix", "/keys/query for " << user_id << " failed: " << r.error().message);
    }
    auto w = std::move(query_waiters_[user_id]);
    query_waiters_.erase(user_id);
    for (auto& f : w) f();
  });
}

void CallSession::prepareOlm(const std::string& user_id, const std::string& device_id,
                             std::function<void(OlmRoute)> then) {
  if (olm_->hasSession(user_id, device_id)) return then(OlmRoute::Encrypt);
  auto after_query = [this, user_id, device_id, then] {
    if (!olm_->device(user_id, device_id)) return then(OlmRoute::Plaintext);  // publishes no keys
    if (olm_->hasSession(user_id, device_id)) return then(OlmRoute::Encrypt);
    const std::string key = user_id + "\n" + device_id;
    auto& waiters = claim_waiters_[key];
    waiters.push_back([this, user_id, device_id, then] {
      then(olm_->hasSession(user_id, device_id) ? OlmRoute::Encrypt : OlmRoute::Fail);
    });
    if (waiters.size() > 1) return;
    client_.keysClaim(crypto::OlmMachine::keysClaimBody({{user_id, device_id}}),
                      [this, key, device_id](Result<json::object> r) {
                        if (r) {
                          if (olm_->addClaimResult(*r) == 0 && olm_warnings_++ < kMaxOlmWarnings) {
                            CHORUS_LOG(Warn, "matrix", "/keys/claim gave no usable key for " << device_id);
                          }
                          persistOlm();
                        } else if (olm_warnings_++ < kMaxOlmWarnings) {
                          CHORUS_LOG(Warn, "matrix", "/keys/claim failed: " << r.error().message);
                        }
                        auto w = std::move(claim_waiters_[key]);
                        claim_waiters_.erase(key);
                        for (auto& f : w) f();
                      });
  };
  // A device unknown after a fresh query publishes no keys; device_lists.changed makes the query stale again.
  if (!queried_users_.count(user_id)) return queryKeys(user_id, std::move(after_query));
  after_query();
}

void CallSession::unwedge(const std::string& user_id, const std::string& device_id) {
  // The spec: a new session and an m.dummy over it, at most once an hour per device (here: every 10 minutes,
  // and for at most 256 devices in the table), so a peer that sends junk cannot make us claim keys in a loop.
  constexpr TimeMs kUnwedgeIntervalMs = 10 * 60 * 1000;
  const std::string key = user_id + "\n" + device_id;
  const TimeMs now = clock_.nowMs();
  if (auto it = unwedged_at_.find(key); it != unwedged_at_.end() && now - it->second < kUnwedgeIntervalMs)
    return;
  if (unwedged_at_.size() >= 256) {
    for (auto it = unwedged_at_.begin(); it != unwedged_at_.end();) {
      it = now - it->second >= kUnwedgeIntervalMs ? unwedged_at_.erase(it) : std::next(it);
    }
    if (unwedged_at_.size() >= 256) return;
  }
  unwedged_at_[key] = now;
  CHORUS_LOG(Info, "matrix",
             "Olm session with " << user_id << " " << device_id << " is wedged; making a new one");
  client_.keysClaim(crypto::OlmMachine::keysClaimBody({{user_id, device_id}}),
                    [this, user_id, device_id](Result<json::object> r) {
                      if (!r || olm_->addClaimResult(*r) == 0) {
                        CHORUS_LOG(Warn, "matrix", "could not make a new Olm session with " << device_id);
                        return;
                      }
                      auto dummy = olm_->encrypt(user_id, device_id, "m.dummy", json::object{});
                      persistOlm();
                      if (!dummy) return;
                      ++sessions_unwedged_;
                      json::object messages{{user_id, json::object{{device_id, std::move(*dummy)}}}};
                      client_.sendToDevice(std::string(crypto::kEncryptedEventType), client_.newTxnId(),
                                           std::move(messages), [](Result<json::object>) {});
                    });
}

E2eeCounters CallSession::e2eeCounters() const {
  E2eeCounters c;
  if (olm_) {
    c.olm_decrypted = olm_->counters().olm_decrypted;
    c.olm_encrypted_sent = olm_->counters().olm_encrypted_sent;
    c.olm_failures = olm_->counters().olm_failures;
    c.olm_sessions_created = olm_->counters().sessions_outbound + olm_->counters().sessions_inbound;
    c.olm_sessions_unwedged = sessions_unwedged_;
  }
  c.plaintext_in_encrypted_room = plaintext_in_encrypted_room_;
  c.plaintext_sent_in_encrypted_room = plaintext_sent_in_encrypted_room_;
  return c;
}

// ---------------------------------------------------------------- leaving

void CallSession::whenIdle(std::function<void()> done) {
  idle_waiters_.push_back(std::move(done));
  checkIdle();
}

void CallSession::checkIdle() {
  if (outstanding_ != 0 || idle_waiters_.empty()) return;
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
  if (restart_timer_) loop_.cancelTimer(*restart_timer_);
  restart_timer_.reset();
  whenIdle(std::move(done));
}

void CallSession::abandonForTest() {
  stopping_ = true;
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
  whenIdle(std::move(done));
}

}  // namespace chorus::matrix
