#pragma once
// Load generator for `chorus bench hs`: many long-polling devices against one in-process server over real
// HTTP.
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::hs {

struct LoadBenchOptions {
  std::vector<int> devices{100, 1000};  // long-polling devices, one to-device run each
  int messages{2000};                   // to-device messages per run
  int fanout_members{1000};             // joined members for the m.call.member fan-out run
  int fanout_rounds{5};
  std::string synchronous{"full"};  // SQLite mode of the server under test
};

// Runs every scenario and returns the figures as JSON (see docs/hs.md for the fields).
Result<boost::json::object> runLoadBench(const LoadBenchOptions& opt);

}  // namespace chorus::hs
