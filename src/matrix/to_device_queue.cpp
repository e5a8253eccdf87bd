#include "matrix/to_device_queue.hpp"

#include <utility>

namespace chorus::matrix {

namespace json = boost::json;

ToDeviceQueue::ToDeviceQueue(Limits limits, Seal seal, Send send, std::function<std::string()> new_txn_id,
                             Done done)
    : limits_(limits),
      seal_(std::move(seal)),
      send_(std::move(send)),
      new_txn_id_(std::move(new_txn_id)),
      done_(std::move(done)) {}

ToDeviceQueue::ToDeviceQueue(Limits limits, Seal seal, Client& client, Done done)
    : ToDeviceQueue(
          limits, std::move(seal),
          [&client](const std::string& type, const std::string& txn, json::object messages,
                    std::function<void(Result<json::object>)> sent) {
            client.sendToDevice(type, txn, std::move(messages), std::move(sent));
          },
          [&client] { return client.newTxnId(); }, std::move(done)) {}

bool ToDeviceQueue::push(proto::SendToDevice message) {
  const std::string key = message.user_id + "\n" + message.device_id;
  auto it = devices_.find(key);
  if (queued_ >= limits_.total || (it != devices_.end() && it->second.jobs.size() >= limits_.per_device)) {
    ++refused_;
    return false;
  }
  Device& d = devices_[key];
  d.jobs.push_back(Job{std::move(message), new_txn_id_()});
  ++queued_;
  if (!d.busy) startFront(key);
  return true;
}

void ToDeviceQueue::startFront(const std::string& key) {
  auto it = devices_.find(key);
  if (it == devices_.end()) return;
  if (it->second.jobs.empty()) {
    devices_.erase(it);
    return;
  }
  it->second.busy = true;
  seal_(it->second.jobs.front().message,
        [this, key](Result<Sealed> sealed) { sendFront(key, std::move(sealed)); });
}

void ToDeviceQueue::sendFront(const std::string& key, Result<Sealed> sealed) {
  auto it = devices_.find(key);
  if (it == devices_.end() || it->second.jobs.empty()) return;
  if (!sealed) return finishFront(key, fail(sealed.error()));
  const Job& job = it->second.jobs.front();
  json::object messages{
      {job.message.user_id, json::object{{job.message.device_id, std::move(sealed->content)}}}};
  send_(sealed->type, job.txn_id, std::move(messages),
        [this, key](Result<json::object> r) { finishFront(key, r ? ok() : Status(fail(r.error()))); });
}

void ToDeviceQueue::finishFront(const std::string& key, const Status& result) {
  auto it = devices_.find(key);
  if (it == devices_.end() || it->second.jobs.empty()) return;
  Job job = std::move(it->second.jobs.front());
  it->second.jobs.pop_front();
  it->second.busy = false;
  --queued_;
  done_(job.message, result);  // may push more (also to this device)
  it = devices_.find(key);
  if (it != devices_.end() && !it->second.busy) startFront(key);
}

}  // namespace chorus::matrix
