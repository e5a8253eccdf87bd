// One MediaEngine leg driven over stdin/stdout by chromium_interop.mjs (which drives headless Chromium).
// Line protocol, one message per line, SDP line breaks written as '|':
//   out: "streamid <id>", "sdp offer|answer <sdp>", "cand <mline> <mid> <candidate>", "eoc", "state <s>",
//        "remote audio|video <stream id> <mid>", "error <text>", "stats <k=v ...>", "bye"
//   in:  "sdp offer|answer <sdp>", "cand <mline> <mid> <candidate>" (empty candidate = end-of-candidates)
// Usage: endpoint_chromium_peer offer|answer [seconds of media after connected]
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "endpoint/media_engine.hpp"

using namespace chorus::endpoint;

namespace {

std::string flatten(const std::string& sdp) {
  std::string out;
  for (char c : sdp) {
    if (c != '\r') out += c == '\n' ? '|' : c;
  }
  return out;
}

std::string unflatten(const std::string& line) {
  std::string out;
  for (char c : line) {
    if (c == '|') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

void handleLine(MediaEngine& engine, const std::string& line) {
  if (line.rfind("sdp ", 0) == 0) {
    auto sp = line.find(' ', 4);
    auto type = parseSdpType(line.substr(4, sp - 4));
    if (!type || sp == std::string::npos) return;
    engine.setRemoteDescription(1, *type, unflatten(line.substr(sp + 1)));
    if (*type == SdpType::Offer) engine.createAnswer(1);
  } else if (line.rfind("cand ", 0) == 0) {
    auto a = line.find(' ', 5);
    auto b = line.find(' ', a + 1);
    if (a == std::string::npos) return;
    auto mline = static_cast<std::uint32_t>(std::stoul(line.substr(5, a - 5)));
    std::string mid = line.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    engine.addRemoteCandidate(1, b == std::string::npos ? "" : line.substr(b + 1), mid, mline);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string role = argc > 1 ? argv[1] : "answer";
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 6;
  MediaConfig config;
  config.loopback_only = true;
  config.width = 320;
  config.height = 240;
  config.fps = 15;
  auto created = MediaEngine::create(config);
  if (!created) {
    std::cerr << created.error().message << "\n";
    return 1;
  }
  MediaEngine& engine = **created;
  std::cout << "streamid " << engine.localStreamId(StreamPurpose::UserMedia) << std::endl;
  engine.createLeg(1);
  if (role == "offer") engine.createOffer(1);

  using Clock = std::chrono::steady_clock;
  auto since = Clock::now();
  bool connected = false;
  std::string input;
  while (true) {
    for (const auto& ev : engine.poll()) {
      if (const auto* d = std::get_if<LocalDescription>(&ev)) {
        std::cout << "sdp " << toString(d->type) << " " << flatten(d->sdp) << std::endl;
      } else if (const auto* c = std::get_if<LocalCandidate>(&ev)) {
        std::cout << "cand " << c->sdp_mline_index.value_or(0) << " " << c->sdp_mid.value_or("-") << " "
                  << c->candidate << std::endl;
      } else if (std::holds_alternative<GatheringComplete>(ev)) {
        std::cout << "eoc" << std::endl;
      } else if (const auto* s = std::get_if<LegState>(&ev)) {
        std::cout << "state " << toString(s->state) << std::endl;
        if (s->state == ConnectionState::Connected && !connected) {
          connected = true;
          since = Clock::now();
        }
      } else if (const auto* r = std::get_if<RemoteStream>(&ev)) {
        std::cout << "remote " << toString(r->kind) << " " << r->stream_id << " " << r->mid << std::endl;
      } else if (const auto* e = std::get_if<LegError>(&ev)) {
        std::cout << "error " << e->message << std::endl;
      }
    }
    const auto limit = connected ? std::chrono::seconds(seconds) : std::chrono::seconds(30);
    if (Clock::now() - since > limit) break;
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {engine.wakeupFd(), POLLIN, 0}};
    ::poll(fds, 2, 100);
    if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
      char chunk[65536];
      ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n <= 0) break;
      input.append(chunk, static_cast<std::size_t>(n));
      for (auto pos = input.find('\n'); pos != std::string::npos; pos = input.find('\n')) {
        handleLine(engine, input.substr(0, pos));
        input.erase(0, pos + 1);
      }
    }
  }
  if (auto st = engine.stats(1)) {
    std::cout << "stats connected=" << connected << " audio_decoded=" << st->audio_frames_decoded
              << " video_decoded=" << st->video_frames_decoded << " packets_sent=" << st->packets_sent
              << " packets_received=" << st->packets_received << std::endl;
  }
  std::cout << "bye" << std::endl;
  return 0;
}
