#include "base/subprocess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

extern char** environ;

namespace chorus {

std::optional<SpawnedProcess> spawnWithStdoutPipe(const std::vector<std::string>& argv,
                                                  const std::string& stderr_path) {
  if (argv.empty()) return std::nullopt;
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  SpawnedProcess p;
  const int rc = posix_spawn(&p.pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return std::nullopt;
  }
  p.stdout_fd = fds[0];
  fcntl(p.stdout_fd, F_SETFL, O_NONBLOCK);
  return p;
}

}  // namespace chorus
