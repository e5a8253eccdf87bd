#include "io/sctp_association.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "base/log.hpp"
#include "media/sctp/dcep.hpp"

namespace chorus::io {

namespace {

constexpr const char* kSctpTag = "sctp";

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::uintptr_t, SctpAssociation*> live;
  std::uintptr_t next_id{1};
  bool initialised{false};
};
Registry& sctpRegistry() {
  static auto* r = new Registry();  // never destroyed: usrsctp may call in until exit
  return *r;
}

SctpAssociation* lookup(std::uintptr_t id) {
  auto& r = sctpRegistry();
  std::lock_guard lock(r.mutex);
  auto it = r.live.find(id);
  return it == r.live.end() ? nullptr : it->second;
}

}  // namespace

const char* toString(SctpDrop d) noexcept {
  switch (d) {
    case SctpDrop::MessageTooLarge:
      return "message_too_large";
    case SctpDrop::QueueFull:
      return "queue_full";
    case SctpDrop::BadDcep:
      return "bad_dcep";
    case SctpDrop::UnknownChannel:
      return "unknown_channel";
    case SctpDrop::TooManyChannels:
      return "too_many_channels";
    case SctpDrop::UnknownPpid:
      return "unknown_ppid";
    case SctpDrop::SendFailed:
      return "send_failed";
    case SctpDrop::Count:
      break;
  }
  return "unknown";
}

// usrsctp's C upcalls. They only look the association up and queue or forward bytes.
struct SctpUpcalls {
  static int connOutput(void* addr, void* buffer, size_t length, uint8_t /*tos*/, uint8_t /*set_df*/) {
    SctpAssociation* a = lookup(reinterpret_cast<std::uintptr_t>(addr));
    if (a != nullptr) a->output(media::ByteSpan(static_cast<const std::uint8_t*>(buffer), length));
    return 0;
  }

  static int receive(struct socket* /*sock*/, union sctp_sockstore /*addr*/, void* data, size_t datalen,
                     struct sctp_rcvinfo rcv, int flags, void* ulp_info) {
    SctpAssociation* a = lookup(reinterpret_cast<std::uintptr_t>(ulp_info));
    if (data == nullptr) return 1;  // association shutdown indication
    if (a != nullptr) {
      SctpAssociation::Upcall u;
      u.notification = (flags & MSG_NOTIFICATION) != 0;
      u.stream_id = rcv.rcv_sid;
      u.ppid = ntohl(rcv.rcv_ppid);
      u.end_of_record = (flags & MSG_EOR) != 0;
      const auto* p = static_cast<const std::uint8_t*>(data);
      u.data.assign(p, p + datalen);
      a->enqueue(std::move(u));
    }
    std::free(data);  // usrsctp gotcha 3: the callback owns `data`
    return 1;
  }

  static void ensureInit() {
    auto& r = sctpRegistry();
    std::lock_guard lock(r.mutex);
    if (r.initialised) return;
    r.initialised = true;
    // Port 0: no UDP encapsulation socket. No threads: our loop drives the timers.
    usrsctp_init_nothreads(0, &SctpUpcalls::connOutput, nullptr);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
    // Retransmission timeouts as Chrome's SCTP (dcsctp) has them (sctp_association.hpp): 500 ms before the
    // first RTT sample and at least 400 ms (above a peer's 200 ms delayed SACK), not usrsctp's 3 s and 1 s,
    // and a backoff that stops at 10 s, with the retransmission limit raised so an outage lasts as long as
    // with usrsctp's 60 s maximum before the association gives up; the one path fails only with the
    // association, never before it (kSctpMaxRtoMs).
    usrsctp_sysctl_set_sctp_rto_initial_default(kSctpInitialRtoMs);
    usrsctp_sysctl_set_sctp_rto_min_default(kSctpMinRtoMs);
    usrsctp_sysctl_set_sctp_rto_max_default(kSctpMaxRtoMs);
    usrsctp_sysctl_set_sctp_assoc_rtx_max_default(kSctpAssocMaxRetransmits);
    usrsctp_sysctl_set_sctp_path_rtx_max_default(kSctpAssocMaxRetransmits);
  }
};

SctpAssociation::SctpAssociation(Listener& listener, media::DtlsRole dtls_role, std::uint16_t local_port,
                                 std::uint16_t remote_port)
    : listener_(listener),
      local_port_(local_port),
      remote_port_(remote_port),
      next_stream_id_(dtls_role == media::DtlsRole::Client ? 0 : 1) {
  SctpUpcalls::ensureInit();
  auto& r = sctpRegistry();
  {
    std::lock_guard lock(r.mutex);
    id_ = r.next_id++;
    r.live.emplace(id_, this);
  }
}

SctpAssociation::~SctpAssociation() {
  {
    auto& r = sctpRegistry();
    std::lock_guard lock(r.mutex);
    r.live.erase(id_);  // from here on, upcalls for this id are dropped
  }
  if (sock_ != nullptr) {
    usrsctp_shutdown(sock_, SHUT_RDWR);
    usrsctp_close(sock_);
  }
  usrsctp_deregister_address(reinterpret_cast<void*>(id_));
}

bool SctpAssociation::start() {
  if (started_) return false;
  started_ = true;
  void* addr = reinterpret_cast<void*>(id_);
  usrsctp_register_address(addr);
  sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, &SctpUpcalls::receive, nullptr, 0, addr);
  if (sock_ == nullptr) {
    CHORUS_LOG(Error, kSctpTag, "usrsctp_socket failed: " << std::strerror(errno));
    return false;
  }
  usrsctp_set_non_blocking(sock_, 1);
  const int on = 1;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
  linger lg{1, 0};
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  sctp_assoc_value av{};
  av.assoc_id = SCTP_ALL_ASSOC;
  av.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof av);
  sctp_initmsg init{};
  init.sinit_num_ostreams = kSctpStreams;
  init.sinit_max_instreams = kSctpStreams;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
  const int buf = 1024 * 1024;
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  for (const std::uint16_t type : {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SEND_FAILED_EVENT,
                                   SCTP_SHUTDOWN_EVENT, SCTP_PARTIAL_DELIVERY_EVENT}) {
    sctp_event ev{};
    ev.se_assoc_id = SCTP_ALL_ASSOC;
    ev.se_type = type;
    ev.se_on = 1;
    usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
  }
  sockaddr_conn local{};
  local.sconn_family = AF_CONN;
  local.sconn_port = htons(local_port_);
  local.sconn_addr = addr;
  if (usrsctp_bind(sock_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    CHORUS_LOG(Error, kSctpTag, "usrsctp_bind failed: " << std::strerror(errno));
    return false;
  }
  sockaddr_conn remote = local;
  remote.sconn_port = htons(remote_port_);
  if (usrsctp_connect(sock_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
      errno != EINPROGRESS) {
    CHORUS_LOG(Error, kSctpTag, "usrsctp_connect failed: " << std::strerror(errno));
    return false;
  }
  processQueue();
  return true;
}

void SctpAssociation::output(media::ByteSpan packet) {
  media::tallySctpChunks(packet, wire_out_);
  listener_.onSctpSend(*this, packet);
}

void SctpAssociation::receive(media::ByteSpan packet) {
  if (sock_ == nullptr) return;
  // Never called from inside connOutput (usrsctp gotcha 2): the caller feeds packets from the event loop.
  media::tallySctpChunks(packet, wire_in_);
  usrsctp_conninput(reinterpret_cast<void*>(id_), packet.data(), packet.size(), 0);
  processQueue();
}

void SctpAssociation::enqueue(Upcall&& u) {
  if (queue_.size() >= kSctpMaxQueuedUpcalls) {
    drops_.count(SctpDrop::QueueFull);
    return;
  }
  queue_.push_back(std::move(u));
}

void SctpAssociation::handleTimers(std::uint32_t elapsed_ms) {
  {
    auto& r = sctpRegistry();
    std::lock_guard lock(r.mutex);
    if (!r.initialised) return;
  }
  usrsctp_handle_timers(elapsed_ms);
  // Timers may have produced upcalls (e.g. COMM_LOST): process every association's queue.
  std::vector<std::uintptr_t> ids;
  {
    auto& r = sctpRegistry();
    std::lock_guard lock(r.mutex);
    for (const auto& [id, a] : r.live) {
      if (!a->queue_.empty()) ids.push_back(id);
    }
  }
  for (auto id : ids) {
    if (SctpAssociation* a = lookup(id)) a->processQueue();
  }
}

std::optional<SctpAssociation::Status> SctpAssociation::status() const {
  if (sock_ == nullptr) return std::nullopt;
  sctp_status st{};
  socklen_t len = sizeof st;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_STATUS, &st, &len) != 0) return std::nullopt;
  Status out;
  out.state = st.sstat_state;
  out.peer_rwnd = st.sstat_rwnd;
  out.unacked = st.sstat_unackdata;
  out.pending = st.sstat_penddata;
  out.cwnd = st.sstat_primary.spinfo_cwnd;
  out.srtt_ms = st.sstat_primary.spinfo_srtt;
  out.rto_ms = st.sstat_primary.spinfo_rto;
  out.path_state = st.sstat_primary.spinfo_state;
  return out;
}

std::optional<SctpAssociation::Limits> SctpAssociation::limits() const {
  if (sock_ == nullptr) return std::nullopt;
  sctp_status st{};
  socklen_t len = sizeof st;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_STATUS, &st, &len) != 0) return std::nullopt;
  sctp_paddrparams path{};
  path.spp_address = st.sstat_primary.spinfo_address;  // the one path
  len = sizeof path;
  sctp_assocparams assoc{};
  socklen_t assoc_len = sizeof assoc;
  sctp_rtoinfo rto{};
  socklen_t rto_len = sizeof rto;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &path, &len) != 0 ||
      usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_ASSOCINFO, &assoc, &assoc_len) != 0 ||
      usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_RTOINFO, &rto, &rto_len) != 0) {
    return std::nullopt;
  }
  return Limits{path.spp_pathmaxrxt, assoc.sasoc_asocmaxrxt, rto.srto_max};
}

std::string_view SctpAssociation::pathStateName(std::int32_t path_state) noexcept {
  switch (path_state) {
    case SCTP_ACTIVE:
      return "active";
    case SCTP_INACTIVE:
      return "inactive";
    case SCTP_UNCONFIRMED:
      return "unconfirmed";
    default:
      return "unknown";
  }
}

std::size_t SctpAssociation::liveCount() {
  auto& r = sctpRegistry();
  std::lock_guard lock(r.mutex);
  return r.live.size();
}

void SctpAssociation::processQueue() {
  if (processing_) return;  // a listener callback re-entered us; the outer loop continues
  processing_ = true;
  while (!queue_.empty()) {
    Upcall u = std::move(queue_.front());
    queue_.pop_front();
    if (u.notification) {
      handleNotification(u.data);
      continue;
    }
    // Reassemble messages delivered in parts (partial delivery), bounded by kSctpMaxMessageSize.
    if (!u.end_of_record || !partial_.empty() || partial_discard_) {
      if (!partial_discard_ && partial_.size() + u.data.size() > kSctpMaxMessageSize) {
        partial_discard_ = true;
        partial_.clear();
        partial_.shrink_to_fit();
        drops_.count(SctpDrop::MessageTooLarge);
      }
      if (!partial_discard_) partial_.insert(partial_.end(), u.data.begin(), u.data.end());
      if (!u.end_of_record) continue;
      if (partial_discard_) {
        partial_discard_ = false;
        continue;
      }
      std::vector<std::uint8_t> whole;
      whole.swap(partial_);
      handleMessage(u.stream_id, u.ppid, whole);
      continue;
    }
    if (u.data.size() > kSctpMaxMessageSize) {
      drops_.count(SctpDrop::MessageTooLarge);
      continue;
    }
    handleMessage(u.stream_id, u.ppid, u.data);
  }
  processing_ = false;
}

void SctpAssociation::handleNotification(media::ByteSpan bytes) {
  if (bytes.size() < sizeof(sctp_notification::sn_header)) return;
  sctp_notification n{};
  std::memcpy(&n, bytes.data(), std::min(bytes.size(), sizeof n));
  switch (n.sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE: {
      const auto state = n.sn_assoc_change.sac_state;
      if (state == SCTP_COMM_UP) {
        if (!connected_) {
          connected_ = true;
          CHORUS_LOG(Debug, kSctpTag, "association up");
          listener_.onSctpConnected(*this);
        }
      } else if (state == SCTP_COMM_LOST || state == SCTP_SHUTDOWN_COMP || state == SCTP_CANT_STR_ASSOC) {
        if (connected_ || state == SCTP_CANT_STR_ASSOC) {
          connected_ = false;
          listener_.onSctpClosed(*this);
        }
      }
      break;
    }
    case SCTP_STREAM_RESET_EVENT: {
      const std::size_t header = offsetof(sctp_stream_reset_event, strreset_stream_list);
      const std::uint32_t len = std::min<std::uint32_t>(n.sn_header.sn_length, bytes.size());
      if (len < header) break;
      const std::uint16_t flags = n.sn_strreset_event.strreset_flags;
      const std::size_t count = (len - header) / 2;
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t sid = 0;
        std::memcpy(&sid, bytes.data() + header + 2 * i, 2);
        auto it = channels_.find(sid);
        if (it == channels_.end()) continue;
        if (flags & SCTP_STREAM_RESET_INCOMING_SSN) {
          // The peer closed its side: close ours too (RFC 8831 §6.7) and report.
          if (!it->second.closing) resetStream(sid);
          channels_.erase(it);
          listener_.onDataChannelClosed(*this, sid);
        } else if (flags & SCTP_STREAM_RESET_OUTGOING_SSN) {
          it->second.closing = true;
        }
      }
      break;
    }
    case SCTP_SEND_FAILED_EVENT:
      drops_.count(SctpDrop::SendFailed);
      break;
    case SCTP_SHUTDOWN_EVENT:
      if (connected_) {
        connected_ = false;
        listener_.onSctpClosed(*this);
      }
      break;
    default:
      break;
  }
}

void SctpAssociation::handleMessage(std::uint16_t sid, std::uint32_t ppid, media::ByteSpan data) {
  using media::SctpPpid;
  switch (static_cast<SctpPpid>(ppid)) {
    case SctpPpid::Dcep:
      handleDcep(sid, data);
      return;
    case SctpPpid::String:
    case SctpPpid::StringEmpty:
    case SctpPpid::Binary:
    case SctpPpid::BinaryEmpty: {
      auto it = channels_.find(sid);
      if (it == channels_.end()) {
        drops_.count(SctpDrop::UnknownChannel);
        return;
      }
      // Data on a channel we opened implies the peer got our OPEN (RFC 8832 §6).
      it->second.open = true;
      const bool empty = ppid == static_cast<std::uint32_t>(SctpPpid::StringEmpty) ||
                         ppid == static_cast<std::uint32_t>(SctpPpid::BinaryEmpty);
      const bool binary = ppid == static_cast<std::uint32_t>(SctpPpid::Binary) ||
                          ppid == static_cast<std::uint32_t>(SctpPpid::BinaryEmpty);
      ++messages_received_;
      const std::string_view text =
          empty ? std::string_view{}
                : std::string_view(reinterpret_cast<const char*>(data.data()), data.size());
      listener_.onDataChannelMessage(*this, sid, text, binary);
      return;
    }
    default:
      drops_.count(SctpDrop::UnknownPpid);
      return;
  }
}

void SctpAssociation::handleDcep(std::uint16_t sid, media::ByteSpan data) {
  const auto type = media::dcepMessageType(data);
  if (!type) {
    drops_.count(SctpDrop::BadDcep);
    return;
  }
  if (*type == media::DcepMessageType::Ack) {
    auto it = channels_.find(sid);
    if (it == channels_.end()) {
      drops_.count(SctpDrop::UnknownChannel);
      return;
    }
    if (!it->second.open) {
      it->second.open = true;
      listener_.onDataChannelOpen(*this, sid, it->second.label, {});
    }
    return;
  }
  const auto open = media::parseDataChannelOpen(data);
  if (!open) {
    drops_.count(SctpDrop::BadDcep);
    return;
  }
  if (channels_.count(sid) == 0 && channels_.size() >= kSctpMaxChannels) {
    drops_.count(SctpDrop::TooManyChannels);
    resetStream(sid);
    return;
  }
  Channel& ch = channels_[sid];
  ch.label.assign(open->label);
  ch.open = true;
  std::uint8_t ack[media::kDcepAckSize];
  if (auto n = media::buildDataChannelAck(ack)) {
    sendRaw(sid, static_cast<std::uint32_t>(media::SctpPpid::Dcep), media::ByteSpan(ack, *n));
  }
  listener_.onDataChannelOpen(*this, sid, open->label, open->protocol);
}

std::optional<std::uint16_t> SctpAssociation::openChannel(std::string_view label, std::string_view protocol) {
  if (sock_ == nullptr || channels_.size() >= kSctpMaxChannels || label.size() > 1024 ||
      protocol.size() > 1024) {
    return std::nullopt;
  }
  while (channels_.count(next_stream_id_) != 0)
    next_stream_id_ = static_cast<std::uint16_t>(next_stream_id_ + 2);
  if (next_stream_id_ >= kSctpStreams) return std::nullopt;
  const std::uint16_t sid = next_stream_id_;
  next_stream_id_ = static_cast<std::uint16_t>(next_stream_id_ + 2);
  media::DataChannelOpen open;
  open.label = label;
  open.protocol = protocol;
  std::vector<std::uint8_t> buf(open.encodedSize());
  const auto n = media::buildDataChannelOpen(buf, open);
  if (!n ||
      !sendRaw(sid, static_cast<std::uint32_t>(media::SctpPpid::Dcep), media::ByteSpan(buf.data(), *n))) {
    return std::nullopt;
  }
  channels_[sid].label.assign(label);
  return sid;
}

bool SctpAssociation::sendText(std::uint16_t sid, std::string_view text) {
  if (channels_.count(sid) == 0 || text.size() > kSctpMaxMessageSize) {
    drops_.count(SctpDrop::SendFailed);
    return false;
  }
  static constexpr std::uint8_t kEmpty = 0;
  const auto ppid = static_cast<std::uint32_t>(media::ppidForMessage(false, text.size()));
  const media::ByteSpan bytes =
      text.empty() ? media::ByteSpan(&kEmpty, 1)
                   : media::ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  if (!sendRaw(sid, ppid, bytes)) return false;
  ++messages_sent_;
  return true;
}

bool SctpAssociation::sendBinary(std::uint16_t sid, media::ByteSpan data) {
  if (channels_.count(sid) == 0 || data.size() > kSctpMaxMessageSize) {
    drops_.count(SctpDrop::SendFailed);
    return false;
  }
  static constexpr std::uint8_t kEmpty = 0;
  const auto ppid = static_cast<std::uint32_t>(media::ppidForMessage(true, data.size()));
  if (!sendRaw(sid, ppid, data.empty() ? media::ByteSpan(&kEmpty, 1) : data)) return false;
  ++messages_sent_;
  return true;
}

bool SctpAssociation::sendRaw(std::uint16_t sid, std::uint32_t ppid, media::ByteSpan data) {
  if (sock_ == nullptr) return false;
  sctp_sendv_spa spa{};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = sid;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  spa.sendv_sndinfo.snd_flags = SCTP_EOR;
  const auto r =
      usrsctp_sendv(sock_, data.data(), data.size(), nullptr, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
  if (r < 0) {
    drops_.count(SctpDrop::SendFailed);
    CHORUS_LOG(Debug, kSctpTag, "usrsctp_sendv failed: " << std::strerror(errno));
    return false;
  }
  return true;
}

void SctpAssociation::closeChannel(std::uint16_t sid) {
  auto it = channels_.find(sid);
  if (it == channels_.end() || it->second.closing) return;
  it->second.closing = true;
  resetStream(sid);
}

void SctpAssociation::resetStream(std::uint16_t sid) {
  if (sock_ == nullptr) return;
  alignas(sctp_reset_streams) std::uint8_t buf[sizeof(sctp_reset_streams) + sizeof(std::uint16_t)]{};
  auto* srs = reinterpret_cast<sctp_reset_streams*>(buf);
  srs->srs_assoc_id = SCTP_ALL_ASSOC;
  srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
  srs->srs_number_streams = 1;
  std::memcpy(buf + offsetof(sctp_reset_streams, srs_stream_list), &sid, sizeof sid);
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs, sizeof buf);
}

bool SctpAssociation::channelOpen(std::uint16_t sid) const noexcept {
  auto it = channels_.find(sid);
  return it != channels_.end() && it->second.open;
}

}  // namespace chorus::io
