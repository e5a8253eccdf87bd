#include "proc/process_stats.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace chorus::proc {

std::optional<double> cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto paren = s.rfind(')');
  if (paren == std::string::npos || paren + 2 > s.size()) return std::nullopt;
  std::istringstream rest(s.substr(paren + 2));
  std::vector<std::string> fields;
  for (std::string x; rest >> x && fields.size() < 14;) fields.push_back(x);
  if (fields.size() < 13) return std::nullopt;  // fields[0] is field 3 (state): utime = 14, stime = 15
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) / ticks;
}

std::optional<double> runSeconds(pid_t pid) {
  std::error_code ec;
  double total = 0;
  bool any = false;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(e.path() / "schedstat");
    unsigned long long ns = 0;
    if (f >> ns) {
      total += static_cast<double>(ns) / 1e9;
      any = true;
    }
  }
  if (ec || !any) return std::nullopt;
  return total;
}

std::optional<std::int64_t> rssKib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

}  // namespace chorus::proc
