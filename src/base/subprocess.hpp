#pragma once
// Spawning helper processes (the demo and the benchmarks run `chorus hs`, `chorus focus`, `chorus call`).
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace chorus {

struct SpawnedProcess {
  pid_t pid{-1};
  int stdout_fd{-1};  // read end of the child's stdout, non-blocking
};

// Starts argv[0] (a path) with stdin from /dev/null, stdout on a pipe and stderr appended to a fresh file
// `stderr_path`. nullopt when the pipe or the spawn fails.
std::optional<SpawnedProcess> spawnWithStdoutPipe(const std::vector<std::string>& argv,
                                                  const std::string& stderr_path);

}  // namespace chorus
