#pragma once
// `chorus demo`: starts `chorus hs` and `chorus focus`, creates users and a room (with the focus invited),
// runs three `chorus call` participants through the focus as child processes and prints their combined view;
// then tells the user how to join from a browser (the web client at /call/).
#include <string>

namespace chorus::call {

struct DemoOptions {
  std::string chorus_binary;             // path of our own executable (the children run it)
  std::string listen{"127.0.0.1:8008"};  // falls back to a free port if taken
  std::string data_dir;                  // default: a fresh temporary directory
  double duration_s{0};                  // 0: until Ctrl-C
  int participants{3};
  bool loopback_only{false};  // bots gather only 127.0.0.1 candidates
  bool use_focus{true};       // run `chorus focus` and call through it (else: full mesh)
};

int runDemo(const DemoOptions& options);

}  // namespace chorus::call
