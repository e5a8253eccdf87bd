#pragma once
// What Linux's /proc says about a process (the benches measure `chorus focus` and `chorus hs` this way).
// Each call reads /proc afresh; nullopt when the process is gone or /proc cannot be read. Any thread.
#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace chorus::proc {

// utime + stime from /proc/<pid>/stat, in seconds (ticks of 10 ms).
std::optional<double> cpuSeconds(pid_t pid);

// CPU time with nanosecond resolution: the sum of its threads' run time from /proc/<pid>/task/*/schedstat
// (utime/stime tick at 10 ms, too coarse for a few seconds of a lightly loaded process). Threads that exited
// in between are not counted.
std::optional<double> runSeconds(pid_t pid);

// VmRSS from /proc/<pid>/status, in KiB.
std::optional<std::int64_t> rssKib(pid_t pid);

}  // namespace chorus::proc
