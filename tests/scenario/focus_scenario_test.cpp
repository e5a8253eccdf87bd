// Focus mode end to end on a FakeClock: N GroupCall participants, an in-memory room and to-device bus, fake
// media with data channels, and a scripted focus that speaks MSC3898 as waterfall does (answers invites over
// to-device without seq, advertises available streams with user_id/device_id/tracks, offers the subscribed
// tracks over the data channel, pings). No sockets, no sleeps.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "base/overloaded.hpp"
#include "core/group_call.hpp"
#include "proto/focus_messages.hpp"
#include "testlib/builders.hpp"

namespace chorus::core {
namespace {

namespace json = boost::json;
using Key = std::pair<std::string, std::string>;  // (user, device)

constexpr TimeMs kStart = 1'700'000'000'000;
const proto::FocusInfo kFocus{"@sfu:hs", "SFU"};

std::string sdpFor(const std::vector<LocalFeed>& feeds, const std::string& type) {
  std::string s = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=" + type + "\r\nt=0 0\r\n";
  for (const auto& f : feeds) {
    if (f.purpose == "m.usermedia") {
      s += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=msid:" + f.stream_id + " " + f.stream_id +
           "-a\r\n";
    }
    s += "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\na=msid:" + f.stream_id + " " + f.stream_id +
         "-v\r\n";
  }
  s += "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
  return s;
}

struct FocusPeer {
  std::string session;
  std::string call_id;
  proto::SdpStreamMetadata published;
  std::map<std::pair<std::string, std::string>, proto::TrackRef> subscribed;
  bool dc_open{false};
  int invites{0};
  int select_answers{0};
  int candidates{0};
  int pongs{0};
  int answers_from_peer{0};  // negotiate answers to our offers
  int offers_from_peer{0};
  std::vector<proto::FocusMessage> received;
};

class Harness;

// The scripted focus.
class ScriptedFocus {
 public:
  explicit ScriptedFocus(Harness& h) : h_(h) {}
  void onToDevice(const std::string& sender, const std::string& type, const json::object& content);
  void onDataChannelOpen(const Key& who);
  void onDataChannel(const Key& who, const std::string& text);
  void pingAll();
  proto::SdpStreamMetadata availableFor(const Key& who) const;
  void broadcastMetadata(const Key& except);

  std::map<Key, FocusPeer> peers;
  std::vector<std::string> bad;  // protocol violations seen

 private:
  json::object base(const Key& who) const;
  void sendDc(const Key& who, const proto::FocusMessage& m);
  Harness& h_;
};

struct Client {
  std::string user;
  std::string device;
  std::unique_ptr<GroupCall> call;
  std::vector<LocalFeed> feeds;
  std::deque<Input> inbox;
  struct Leg {
    bool focus{false};
    bool dc{false};
    bool connected{false};
    std::string local_type;
  };
  std::map<LegId, Leg> legs;
  std::vector<act::RemoteFeedsChanged> remote_feeds;
  std::uint64_t mesh_to_device{0};  // to-device messages to other participants
  LegId focusLeg() const {
    for (const auto& [id, l] : legs)
      if (l.focus) return id;
    return 0;
  }
};

class Harness {
 public:
  Harness() : clock_(kStart) {
    state_ = {testlib::joinEvent("@alice:hs"), testlib::joinEvent("@bob:hs"), testlib::joinEvent("@carol:hs"),
              testlib::joinEvent("@dave:hs"), testlib::callEvent("conf1", "@alice:hs", 10)};
  }

  // adopt_focus false: a mesh-only client that knows no foci (matrix-js-sdk 28.1.0).
  Client& add(const std::string& user, const std::string& device, std::optional<proto::FocusInfo> focus,
              bool adopt_focus = true, std::size_t max_mesh_peers = 8) {
    CallConfig cfg;
    cfg.user_id = user;
    cfg.device_id = device;
    cfg.session_id = device + "-session";
    cfg.focus = std::move(focus);
    cfg.adopt_focus = adopt_focus;
    cfg.max_mesh_peers = max_mesh_peers;
    auto c = std::make_unique<Client>();
    c->user = user;
    c->device = device;
    c->call = std::make_unique<GroupCall>(cfg, clock_, rng_);
    c->feeds = {LocalFeed{user + "-cam", "m.usermedia", false, false, 640, 360}};
    c->inbox.push_back(in::StateChanged{state_});
    clients_.push_back(std::move(c));
    return *clients_.back();
  }
  void enter(Client& c) {
    in::Enter e;
    e.feeds = c.feeds;
    c.inbox.push_back(e);
  }
  Client* find(const std::string& user, const std::string& device) {
    for (auto& c : clients_)
      if (c->user == user && c->device == device) return c.get();
    return nullptr;
  }
  void toClient(const Key& who, Input in) {
    if (Client* c = find(who.first, who.second)) c->inbox.push_back(std::move(in));
  }
  // Focus -> the client's focus leg, over the data channel.
  void dcToClient(const Key& who, const std::string& text) {
    if (Client* c = find(who.first, who.second); c && c->focusLeg() != 0)
      c->inbox.push_back(in::DataChannelMessage{c->focusLeg(), text});
  }

  void run(TimeMs duration) {
    const TimeMs end = clock_.nowMs() + duration;
    while (clock_.nowMs() < end) {
      for (int round = 0; round < 50; ++round) {
        bool any = false;
        for (auto& c : clients_) {
          while (!c->inbox.empty()) {
            Input in = std::move(c->inbox.front());
            c->inbox.pop_front();
            execute(*c, c->call->handle(in));
            any = true;
          }
        }
        if (!any) break;
      }
      clock_.advance(20);
      for (auto& c : clients_) {
        if (auto t = c->call->nextTimeout(); t && *t <= clock_.nowMs())
          execute(*c, c->call->handle(in::Tick{}));
      }
    }
  }

  ScriptedFocus focus{*this};
  std::vector<std::unique_ptr<Client>> clients_;

 private:
  void execute(Client& c, const Actions& actions) {
    for (const auto& a : actions) {
      std::visit(Overloaded{
                     [&](const act::PutState& p) {
                       StateEvent ev{p.type,         p.state_key, c.user, "$" + std::to_string(++events_),
                                     clock_.nowMs(), p.content};
                       state_.push_back(ev);
                       for (auto& other : clients_) other->inbox.push_back(in::StateChanged{{ev}});
                     },
                     [&](const act::SendToDevice& s) {
                       if (s.user_id == kFocus.user_id && s.device_id == kFocus.device_id) {
                         focus.onToDevice(c.user, s.type, s.content);
                       } else {
                         ++c.mesh_to_device;
                         toClient({s.user_id, s.device_id},
                                  in::ToDeviceReceived{ToDeviceMessage{s.type, c.user, s.content}});
                       }
                     },
                     [&](const act::CreateLeg& l) {
                       c.legs[l.leg] = Client::Leg{l.focus, l.data_channel.has_value()};
                     },
                     [&](const act::CreateOffer& o) {
                       c.legs[o.leg].local_type = "offer";
                       c.inbox.push_back(in::LocalDescription{o.leg, {"offer", sdpFor(c.feeds, "offer")}});
                       c.inbox.push_back(in::LocalCandidate{
                           o.leg, {"candidate:1 1 udp 1 127.0.0.1 1 typ host", "0", 0, {}}});
                       c.inbox.push_back(in::GatheringComplete{o.leg});
                     },
                     [&](const act::CreateAnswer& o) {
                       auto& leg = c.legs[o.leg];
                       leg.local_type = "answer";
                       c.inbox.push_back(in::LocalDescription{o.leg, {"answer", sdpFor(c.feeds, "answer")}});
                       if (!leg.connected && !leg.focus) {  // the callee of a mesh leg connects too
                         leg.connected = true;
                         c.inbox.push_back(in::MediaStateChanged{o.leg, MediaState::Connected});
                       }
                     },
                     [&](const act::SetRemoteDescription& r) {
                       auto& leg = c.legs[r.leg];
                       if (!leg.connected && r.description.type == "answer") {
                         leg.connected = true;
                         c.inbox.push_back(in::MediaStateChanged{r.leg, MediaState::Connected});
                         if (leg.dc) {
                           c.inbox.push_back(in::DataChannelOpen{r.leg});
                           if (leg.focus) focus.onDataChannelOpen({c.user, c.device});
                         }
                       }
                     },
                     [&](const act::SendDataChannel& d) {
                       ASSERT_TRUE(c.legs[d.leg].focus);
                       focus.onDataChannel({c.user, c.device}, d.text);
                     },
                     [&](const act::CloseLeg& l) { c.legs.erase(l.leg); },
                     [&](const act::RemoteFeedsChanged& r) { c.remote_feeds.push_back(r); },
                     [&](const auto&) {},
                 },
                 a);
    }
  }

  FakeClock clock_;
  FakeRng rng_{9};
  std::vector<StateEvent> state_;
  std::uint64_t events_{0};
};

json::object ScriptedFocus::base(const Key& who) const {
  const FocusPeer& p = peers.at(who);
  // waterfall's createBaseEventContent: no seq, version as a number.
  return json::object{{"call_id", p.call_id},
                      {"conf_id", "conf1"},
                      {"device_id", kFocus.device_id},
                      {"party_id", kFocus.device_id},
                      {"sender_session_id", "sfu"},
                      {"dest_session_id", p.session},
                      {"version", 1}};
}

void ScriptedFocus::sendDc(const Key& who, const proto::FocusMessage& m) {
  h_.dcToClient(who, proto::serializeFocusMessage(m));
}

proto::SdpStreamMetadata ScriptedFocus::availableFor(const Key& who) const {
  proto::SdpStreamMetadata out;
  for (const auto& [key, p] : peers) {
    if (key == who) continue;
    for (auto [sid, md] : p.published) {
      md.user_id = key.first;
      md.device_id = key.second;
      out[sid] = md;
    }
  }
  return out;
}

void ScriptedFocus::broadcastMetadata(const Key& except) {
  for (const auto& [key, p] : peers) {
    if (key == except || !p.dc_open) continue;
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
    m.metadata = availableFor(key);
    sendDc(key, m);
  }
}

void ScriptedFocus::onToDevice(const std::string& sender, const std::string& type,
                               const json::object& content) {
  auto sig = proto::parseCallSignal(type, content);
  if (!sig) {
    bad.push_back("unparsable " + type);
    return;
  }
  const Key who{sender, sig->device_id};
  if (sig->dest_session_id != "sfu") bad.push_back(type + " with dest_session_id " + sig->dest_session_id);
  if (sig->conf_id != "conf1") bad.push_back(type + " for conf " + sig->conf_id);
  if (sig->type == proto::SignalType::Invite) {
    FocusPeer& p = peers[who];
    p.session = sig->sender_session_id;
    p.call_id = sig->call_id;
    p.published = sig->metadata.value_or(proto::SdpStreamMetadata{});
    ++p.invites;
    for (const auto& [sid, md] : p.published) {
      if (md.tracks.empty() || md.user_id != sender || md.device_id != sig->device_id) {
        bad.push_back("invite metadata of " + sid + " lacks tracks or user/device");
      }
    }
    auto answer = base(who);
    answer["answer"] = json::object{{"type", "answer"}, {"sdp", "v=0 focus answer"}};
    answer["org.matrix.msc3077.sdp_stream_metadata"] = proto::serializeSdpStreamMetadata(availableFor(who));
    h_.toClient(who, in::ToDeviceReceived{ToDeviceMessage{"m.call.answer", kFocus.user_id, answer}});
    auto cand = base(who);
    cand["candidates"] = json::array{json::object{
        {"candidate", "candidate:9 1 udp 1 127.0.0.1 9 typ host"}, {"sdpMid", "0"}, {"sdpMLineIndex", 0}}};
    h_.toClient(who, in::ToDeviceReceived{ToDeviceMessage{"m.call.candidates", kFocus.user_id, cand}});
    broadcastMetadata(who);
    return;
  }
  auto it = peers.find(who);
  if (it == peers.end() || it->second.call_id != sig->call_id) {
    bad.push_back(type + " for an unknown call");
    return;
  }
  switch (sig->type) {
    case proto::SignalType::SelectAnswer:
      ++it->second.select_answers;
      if (sig->selected_party_id != kFocus.device_id) bad.push_back("select_answer for another party");
      return;
    case proto::SignalType::Candidates:
      ++it->second.candidates;
      return;
    case proto::SignalType::Hangup:
      peers.erase(it);
      broadcastMetadata(who);
      return;
    default:
      bad.push_back("unexpected to-device " + type + " (should go over the data channel)");
  }
}

void ScriptedFocus::onDataChannelOpen(const Key& who) {
  auto it = peers.find(who);
  if (it == peers.end()) return;
  it->second.dc_open = true;
  proto::FocusMessage m;
  m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
  m.metadata = availableFor(who);
  sendDc(who, m);
}

void ScriptedFocus::onDataChannel(const Key& who, const std::string& text) {
  auto it = peers.find(who);
  if (it == peers.end()) {
    bad.push_back("data channel message from a stranger");
    return;
  }
  FocusPeer& p = it->second;
  auto m = proto::parseFocusMessage(text);
  if (!m) {
    bad.push_back("unparsable data channel message: " + text);
    return;
  }
  p.received.push_back(*m);
  switch (m->type) {
    case proto::FocusMessageType::TrackSubscription: {
      for (const auto& t : m->unsubscribe) p.subscribed.erase({t.stream_id, t.track_id});
      for (const auto& t : m->subscribe) p.subscribed[{t.stream_id, t.track_id}] = t;
      // Offer the subscribed tracks (sendonly sections).
      std::string sdp = "v=0\r\ns=focus offer\r\n";
      for (const auto& [k, t] : p.subscribed)
        sdp += "m=video 9 RTP 96\r\na=sendonly\r\na=msid:" + k.first + " " + k.second + "\r\n";
      proto::FocusMessage offer;
      offer.type = proto::FocusMessageType::Negotiate;
      offer.description = proto::SessionDescription{"offer", sdp};
      offer.metadata = availableFor(who);
      sendDc(who, offer);
      return;
    }
    case proto::FocusMessageType::Negotiate:
      if (m->description->type == "answer") {
        ++p.answers_from_peer;
      } else {
        ++p.offers_from_peer;
        if (m->metadata) p.published = *m->metadata;
        proto::FocusMessage answer;
        answer.type = proto::FocusMessageType::Negotiate;
        answer.description = proto::SessionDescription{"answer", "v=0 focus answer"};
        answer.metadata = availableFor(who);
        sendDc(who, answer);
        broadcastMetadata(who);
      }
      return;
    case proto::FocusMessageType::SdpStreamMetadataChanged:
      p.published = *m->metadata;
      broadcastMetadata(who);
      return;
    case proto::FocusMessageType::Pong:
      ++p.pongs;
      return;
    case proto::FocusMessageType::Ping:
      bad.push_back("ping from a participant");
      return;
    case proto::FocusMessageType::AudioSlots:
      bad.push_back("audio slots from a participant");
      return;
  }
}

void ScriptedFocus::pingAll() {
  for (const auto& [key, p] : peers) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::Ping;
    sendDc(key, m);
  }
}

std::set<std::string> subscribedUsers(const FocusPeer& p, const ScriptedFocus& f, const Key& who) {
  std::set<std::string> users;
  auto avail = f.availableFor(who);
  for (const auto& [k, t] : p.subscribed) users.insert(avail.at(k.first).user_id.value_or("?"));
  return users;
}

TEST(FocusScenario, ParticipantsMeetThroughTheFocusOnly) {
  Harness h;
  auto& alice = h.add("@alice:hs", "A1", kFocus);
  auto& bob = h.add("@bob:hs", "B1", kFocus);
  auto& carol = h.add("@carol:hs", "C1", kFocus);
  for (auto* c : {&alice, &bob, &carol}) h.enter(*c);
  h.run(2'000);

  EXPECT_TRUE(h.focus.bad.empty()) << h.focus.bad.front();
  ASSERT_EQ(h.focus.peers.size(), 3u);
  for (auto* c : {&alice, &bob, &carol}) {
    SCOPED_TRACE(c->user);
    EXPECT_EQ(c->mesh_to_device, 0u);  // no mesh signalling at all
    ASSERT_EQ(c->call->legs().size(), 1u);
    const PeerCall* leg = c->call->focusLeg();
    ASSERT_NE(leg, nullptr);
    EXPECT_EQ(leg->state(), LegState::Connected);
    EXPECT_TRUE(leg->dataChannelOpen());
    EXPECT_EQ(c->call->participants().size(), 2u);  // still known from member state
    const Key me{c->user, c->device};
    const FocusPeer& p = h.focus.peers.at(me);
    EXPECT_EQ(p.invites, 1);
    EXPECT_EQ(p.select_answers, 1);
    EXPECT_GE(p.candidates, 1);
    // Our tracks were published with their kinds and our size.
    const auto& cam = p.published.at(c->user + "-cam");
    EXPECT_EQ(cam.tracks.at(c->user + "-cam-a").kind, std::optional<std::string>("audio"));
    EXPECT_EQ(cam.tracks.at(c->user + "-cam-v").width, std::optional<std::int64_t>(640));
    // Subscribed: the audio and video of both others, never our own.
    EXPECT_EQ(p.subscribed.size(), 4u);
    auto users = subscribedUsers(p, h.focus, me);
    EXPECT_EQ(users.size(), 2u);
    EXPECT_EQ(users.count(c->user), 0u);
    for (const auto& [k, t] : p.subscribed) {
      if (k.second.ends_with("-v")) {
        EXPECT_EQ(t.width, std::optional<std::int64_t>(640));
      } else {
        EXPECT_FALSE(t.width);
      }
    }
    // Every focus offer (one per subscription change) was answered over the data channel.
    int subscriptions = 0;
    for (const auto& m : p.received) subscriptions += m.type == proto::FocusMessageType::TrackSubscription;
    EXPECT_EQ(p.answers_from_peer, subscriptions);
    // The focus's streams are attributed to their participants.
    ASSERT_FALSE(c->remote_feeds.empty());
    const auto& last = c->remote_feeds.back();
    EXPECT_TRUE(last.focus);
    EXPECT_EQ(last.metadata.size(), 2u);
    for (const auto& [sid, md] : last.metadata) EXPECT_NE(md.user_id, std::optional<std::string>(c->user));
  }

  // Keepalive.
  h.focus.pingAll();
  h.run(100);
  for (const auto& [k, p] : h.focus.peers) EXPECT_EQ(p.pongs, 1) << k.first;

  // Carol leaves: the focus hears m.call.hangup over to-device; the others' subscriptions shrink without an
  // unsubscribe (the focus already dropped her tracks).
  carol.inbox.push_back(in::Leave{});
  h.run(200);
  EXPECT_EQ(h.focus.peers.count({"@carol:hs", "C1"}), 0u);
  EXPECT_EQ(carol.call->legs().size(), 0u);
  EXPECT_EQ(alice.call->focusLeg()->subscriptions().subscribed().size(), 2u);
  EXPECT_EQ(alice.remote_feeds.back().metadata.size(), 1u);
  EXPECT_TRUE(h.focus.bad.empty()) << h.focus.bad.front();
}

TEST(FocusScenario, LateJoinerAdoptsTheFocusAndScreenshareRenegotiatesOverTheDataChannel) {
  Harness h;
  auto& alice = h.add("@alice:hs", "A1", kFocus);
  auto& bob = h.add("@bob:hs", "B1", kFocus);
  h.enter(alice);
  h.enter(bob);
  h.run(1'000);
  // Dave has no focus configured: he finds alice's foci.active and uses it (no mesh).
  auto& dave = h.add("@dave:hs", "D1", std::nullopt);
  h.enter(dave);
  h.run(1'000);
  ASSERT_TRUE(dave.call->focus());
  EXPECT_EQ(*dave.call->focus(), kFocus);
  EXPECT_EQ(dave.mesh_to_device, 0u);
  ASSERT_NE(dave.call->focusLeg(), nullptr);
  EXPECT_EQ(h.focus.peers.at({"@dave:hs", "D1"}).subscribed.size(), 4u);
  EXPECT_EQ(h.focus.peers.at({"@alice:hs", "A1"}).subscribed.size(), 4u);  // dave's tracks added for alice

  // Bob shares his screen: metadata and the new offer go to the focus over the data channel, its answer comes
  // back there, and alice and dave subscribe to the new video track.
  bob.feeds.push_back(LocalFeed{"@bob:hs-screen", "m.screenshare", true, false, 640, 360});
  bob.inbox.push_back(in::SetFeeds{bob.feeds});
  bob.inbox.push_back(in::NegotiationNeeded{bob.focusLeg()});
  h.run(500);
  const FocusPeer& fb = h.focus.peers.at({"@bob:hs", "B1"});
  EXPECT_EQ(fb.offers_from_peer, 1);
  EXPECT_EQ(fb.published.at("@bob:hs-screen").tracks.count("@bob:hs-screen-v"), 1u);
  EXPECT_EQ(h.focus.peers.at({"@alice:hs", "A1"}).subscribed.count({"@bob:hs-screen", "@bob:hs-screen-v"}),
            1u);
  EXPECT_EQ(h.focus.peers.at({"@dave:hs", "D1"}).subscribed.count({"@bob:hs-screen", "@bob:hs-screen-v"}),
            1u);
  EXPECT_TRUE(h.focus.bad.empty()) << h.focus.bad.front();
}

// Mixed call (docs/focus.md "Mixed calls"): bob and carol use the focus, alice and dave are mesh-only
// (js-sdk 28.1.0 knows no foci). Everyone reaches everyone: bob and carol through the focus and in mesh with
// alice and dave; alice and dave in mesh with all three.
TEST(FocusScenario, MeshOnlyClientsReachFocusUsersThroughMeshLegs) {
  Harness h;
  auto& alice = h.add("@alice:hs", "A1", std::nullopt, false);
  auto& bob = h.add("@bob:hs", "B1", kFocus);
  auto& carol = h.add("@carol:hs", "C1", kFocus);
  auto& dave = h.add("@dave:hs", "D1", std::nullopt, false);
  for (auto* c : {&alice, &bob, &carol, &dave}) h.enter(*c);
  h.run(3'000);

  EXPECT_TRUE(h.focus.bad.empty()) << h.focus.bad.front();
  ASSERT_EQ(h.focus.peers.size(), 2u);  // only bob and carol use the focus
  auto connectedTo = [](const Client& c, const std::string& user) {
    for (const auto* leg : c.call->legs())
      if (!leg->ended() && !leg->focus() && leg->userId() == user) return leg->state() == LegState::Connected;
    return false;
  };
  for (auto* c : {&bob, &carol}) {
    SCOPED_TRACE(c->user);
    ASSERT_NE(c->call->focusLeg(), nullptr);
    EXPECT_EQ(c->call->focusLeg()->state(), LegState::Connected);
    EXPECT_EQ(c->call->meshLegCount(), 2u);
    EXPECT_TRUE(connectedTo(*c, "@alice:hs"));
    EXPECT_TRUE(connectedTo(*c, "@dave:hs"));
    EXPECT_EQ(c->call->counters().mesh_peer_legs, 2u);
    EXPECT_EQ(c->call->counters().mesh_invites_in_focus_mode, 0u);
  }
  EXPECT_FALSE(connectedTo(bob, "@carol:hs"));  // focus users meet through the focus only
  EXPECT_FALSE(connectedTo(carol, "@bob:hs"));
  for (auto* c : {&alice, &dave}) {
    SCOPED_TRACE(c->user);
    EXPECT_FALSE(c->call->focus());
    EXPECT_EQ(c->call->focusLeg(), nullptr);
    EXPECT_EQ(c->call->meshLegCount(), 3u);
    for (const char* other : {"@alice:hs", "@bob:hs", "@carol:hs", "@dave:hs"}) {
      if (other != c->user) {
        EXPECT_TRUE(connectedTo(*c, other)) << other;
      }
    }
  }

  // dave leaves: bob's and carol's legs to him go; the focus legs stay.
  dave.inbox.push_back(in::Leave{});
  h.run(1'000);
  for (auto* c : {&bob, &carol}) {
    SCOPED_TRACE(c->user);
    EXPECT_EQ(c->call->meshLegCount(), 1u);
    EXPECT_FALSE(connectedTo(*c, "@dave:hs"));
    EXPECT_TRUE(connectedTo(*c, "@alice:hs"));
    ASSERT_NE(c->call->focusLeg(), nullptr);
    EXPECT_EQ(c->call->focusLeg()->state(), LegState::Connected);
  }
}

TEST(FocusScenario, TheMeshPeerCapBoundsTheExtraUplinks) {
  Harness h;
  auto& alice = h.add("@alice:hs", "A1", std::nullopt, false);
  auto& bob = h.add("@bob:hs", "B1", kFocus, true, 1);
  auto& dave = h.add("@dave:hs", "D1", std::nullopt, false);
  for (auto* c : {&alice, &bob, &dave}) h.enter(*c);
  h.run(3'000);
  // bob holds one mesh leg; the other mesh-only device was declined (its invite) or not called (ours).
  EXPECT_EQ(bob.call->meshLegCount(), 1u);
  EXPECT_GE(bob.call->counters().mesh_peers_over_cap, 1u);
  EXPECT_EQ(alice.call->meshLegCount() + dave.call->meshLegCount(), 3u);  // alice<->dave, and one with bob
}

}  // namespace
}  // namespace chorus::core
