// proc::Child against real short-lived /bin/sh children: lines (JSON and text), stderr to its file, bounds,
// stopping (with the escalation to SIGKILL), the destructor's cleanup, and the /proc figures.
#include "proc/child.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proc/process_stats.hpp"

namespace chorus::proc {
namespace {

constexpr int kTimeoutMs = 10'000;

class ChildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chorus-proc-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::vector<std::string> sh(const std::string& script) const { return {"/bin/sh", "-c", script}; }
  std::string err() const { return dir_ + "/err.log"; }
  std::string dir_;
};

TEST_F(ChildTest, ReadsJsonAndTextLinesAndSendsStderrToItsFile) {
  Child c;
  ASSERT_TRUE(
      c.spawn(sh("printf '{\"event\":\"ready\",\"n\":1}\\nplain text\\n[1,2]\\n'; echo oops >&2"), err()));
  EXPECT_GT(c.pid(), 0);
  ASSERT_TRUE(c.wait(kTimeoutMs));
  EXPECT_EQ(c.pid(), -1);
  EXPECT_EQ(c.stdoutFd(), -1);
  ASSERT_EQ(c.lines().size(), 3u);
  ASSERT_TRUE(c.lines()[0].object.has_value());
  EXPECT_EQ(c.lines()[0].text, "{\"event\":\"ready\",\"n\":1}");
  EXPECT_EQ(c.lines()[1].text, "plain text");
  EXPECT_FALSE(c.lines()[1].object.has_value());
  EXPECT_FALSE(c.lines()[2].object.has_value());  // JSON, but not an object
  const auto* ready = c.lastEventObject("ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->at("n").as_int64(), 1);
  EXPECT_EQ(c.lastEventObject("summary"), nullptr);
  std::ifstream f(err());
  std::string s;
  std::getline(f, s);
  EXPECT_EQ(s, "oops");
}

TEST_F(ChildTest, LastEventTakesTheNewestAtOrBeforeATime) {
  Child c;
  ASSERT_TRUE(
      c.spawn(sh("echo '{\"event\":\"stats\",\"n\":1}'; echo '{\"event\":\"stats\",\"n\":2}'"), err()));
  ASSERT_TRUE(c.wait(kTimeoutMs));
  ASSERT_EQ(c.lines().size(), 2u);
  EXPECT_EQ(c.lastEvent("stats")->object->at("n").as_int64(), 2);
  const auto first_at = c.lines()[0].at;
  EXPECT_EQ(c.lastEvent("stats", first_at - std::chrono::seconds(1)), nullptr);
  const auto* at_first = c.lastEvent("stats", first_at);
  ASSERT_NE(at_first, nullptr);
  EXPECT_LE(at_first->at, first_at);
}

TEST_F(ChildTest, HookSeesEveryLineInOrder) {
  Child c;
  std::vector<std::string> seen;
  c.onLine([&](const Child::Line& l) { seen.push_back(l.text); });
  ASSERT_TRUE(c.spawn(sh("echo a; echo b; printf c"), err()));  // "c" has no newline: not a line
  ASSERT_TRUE(c.wait(kTimeoutMs));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST_F(ChildTest, KeepsTheNewestLinesWithinItsBound) {
  Child c(Child::Options{.max_lines = 10});
  ASSERT_TRUE(c.spawn(sh("i=1; while [ $i -le 100 ]; do echo $i; i=$((i+1)); done"), err()));
  ASSERT_TRUE(c.wait(kTimeoutMs));
  EXPECT_LE(c.lines().size(), 10u);
  ASSERT_FALSE(c.lines().empty());
  EXPECT_EQ(c.lines().back().text, "100");
}

TEST_F(ChildTest, DropsLinesLongerThanItsBound) {
  Child c(Child::Options{.max_line_bytes = 64});
  // One long line in one write, then one written in pieces (longer than the bound before its newline).
  ASSERT_TRUE(c.spawn(sh("head -c 1000 /dev/zero | tr '\\0' x; echo; echo short; "
                         "i=0; while [ $i -lt 20 ]; do printf yyyyyyyyyy; i=$((i+1)); done; echo; echo end"),
                      err()));
  ASSERT_TRUE(c.wait(kTimeoutMs));
  std::vector<std::string> texts;
  for (const auto& l : c.lines()) texts.push_back(l.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"short", "end"}));
}

TEST_F(ChildTest, StopEndsAChildThatHandlesTheSignal) {
  Child c;
  ASSERT_TRUE(c.spawn(sh("trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"), err()));
  for (int i = 0; i < 100 && c.lines().empty(); ++i) c.pump(100);
  ASSERT_FALSE(c.lines().empty());  // the trap is set
  c.stop(SIGTERM, kTimeoutMs);
  EXPECT_FALSE(c.running());
  EXPECT_EQ(c.lines().back().text, "bye");  // read to the end
}

TEST_F(ChildTest, StopKillsAChildThatIgnoresTheSignal) {
  Child c;
  ASSERT_TRUE(c.spawn(sh("trap '' TERM; echo up; exec sleep 60"), err()));
  for (int i = 0; i < 100 && c.lines().empty(); ++i) c.pump(100);
  ASSERT_FALSE(c.lines().empty());
  const auto t0 = std::chrono::steady_clock::now();
  c.stop(SIGTERM, 200);
  EXPECT_FALSE(c.running());
  EXPECT_EQ(c.pid(), -1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}

TEST_F(ChildTest, WaitTimesOutWhileTheChildRuns) {
  Child c;
  ASSERT_TRUE(c.spawn(sh("exec sleep 60"), err()));
  EXPECT_FALSE(c.wait(50));
  EXPECT_TRUE(c.running());
  c.signal(SIGKILL);
  EXPECT_TRUE(c.wait(kTimeoutMs));
}

TEST_F(ChildTest, DestructorKillsAndReapsARunningChild) {
  pid_t pid = -1;
  {
    Child c;
    ASSERT_TRUE(c.spawn(sh("exec sleep 60"), err()));
    pid = c.pid();
  }
  ASSERT_GT(pid, 0);
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no zombie left behind
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(ChildTest, SpawnFailsForAMissingProgramAndAnEmptyArgv) {
  Child c;
  EXPECT_FALSE(c.spawn({dir_ + "/no-such-program"}, err()));
  EXPECT_FALSE(c.spawn({}, err()));
  EXPECT_EQ(c.pid(), -1);
}

TEST_F(ChildTest, ASecondRunForgetsTheFirstOnesLines) {
  Child c;
  ASSERT_TRUE(c.spawn(sh("echo first"), err()));
  ASSERT_TRUE(c.wait(kTimeoutMs));
  ASSERT_TRUE(c.spawn(sh("echo second"), err()));
  ASSERT_TRUE(c.wait(kTimeoutMs));
  ASSERT_EQ(c.lines().size(), 1u);
  EXPECT_EQ(c.lines()[0].text, "second");
}

TEST_F(ChildTest, PumpReadsSeveralChildren) {
  Child a, b;
  ASSERT_TRUE(a.spawn(sh("echo a"), dir_ + "/a.log"));
  ASSERT_TRUE(b.spawn(sh("echo b"), dir_ + "/b.log"));
  for (int i = 0; i < 100 && (a.lines().empty() || b.lines().empty()); ++i) pump({&a, &b}, 100);
  ASSERT_EQ(a.lines().size(), 1u);
  ASSERT_EQ(b.lines().size(), 1u);
  EXPECT_EQ(a.lines()[0].text, "a");
  EXPECT_EQ(b.lines()[0].text, "b");
}

TEST(ProcessStatsTest, ReadsOurOwnFiguresAndNothingForAMissingProcess) {
  const auto rss = rssKib(::getpid());
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 0);
  EXPECT_TRUE(cpuSeconds(::getpid()).has_value());
  const auto run = runSeconds(::getpid());
  ASSERT_TRUE(run.has_value());
  EXPECT_GT(*run, 0.0);
  EXPECT_FALSE(rssKib(0).has_value());
  EXPECT_FALSE(cpuSeconds(0).has_value());
  EXPECT_FALSE(runSeconds(0).has_value());
}

}  // namespace
}  // namespace chorus::proc
