// The real binary: starts on a free port, answers /healthz and /readyz over
// HTTP, refuses a data dir another server holds, stops cleanly on SIGTERM,
// and says so clearly when the kernel refuses it io_uring.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cctype>
#include <cerrno>
#include <cstddef>
#include <filesystem>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;

TEST(Serve, AnswersHealthAndReadinessAndStopsOnSigterm) {
  TempDir tmp;
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.ok()) << "first line: " << server.first_line();
  auto health = server.Request("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "{\"status\":\"ok\"}");
  EXPECT_NE(health.head.find("application/json"), std::string::npos);
  EXPECT_EQ(server.Request("GET", "/readyz").status, 200);
  auto missing = server.Request("GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"code\":\"not_found\""), std::string::npos);
  EXPECT_EQ(server.Terminate(), 0);
}

TEST(Serve, KeepAliveServesSeveralRequestsOnOneConnection) {
  TempDir tmp;
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.ok());
  const std::string one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string raw = server.SendRaw(one + one + last);  // pipelined
  size_t count = 0;
  for (size_t at = 0; (at = raw.find("HTTP/1.1 200", at)) != std::string::npos; ++at) ++count;
  EXPECT_EQ(count, 3u);
}

TEST(Serve, SecondServerOnTheSameDataDirIsRefused) {
  TempDir tmp;
  ServerProcess first(tmp.path());
  ASSERT_TRUE(first.ok());
  ServerProcess second(tmp.path());
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.Terminate(), 1);
  EXPECT_EQ(first.Request("GET", "/healthz").status, 200);
}

TEST(Serve, GarbageOnTheSocketDoesNotHurtTheServer) {
  TempDir tmp;
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.ok());
  server.SendRaw(std::string("\x00\x01\x02 garbage\r\n\r\n", 16));
  server.SendRaw("GET / HTTP/9.9\r\n" + std::string(100000, 'h') + "\r\n\r\n");
  EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
}

// In the child, before the server runs: io_uring_setup fails with EPERM, as
// under a container's seccomp profile that forbids io_uring.
void RefuseIoUringSetup() {
#if defined(__x86_64__)
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    ::_exit(126);
  }
#endif
}

TEST(Serve, AKernelThatRefusesIoUringIsAClearStartError) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter here is written for x86-64";
#endif
  TempDir tmp;
  const std::string first_log = tmp.path() + "/first.log";
  {
    ServerProcess server(tmp.path() + "/data", {}, first_log);
    ASSERT_TRUE(server.ok());
    ASSERT_EQ(server.Terminate(), 0);
  }
  if (ReadFile(first_log).find("io threads on io_uring") == std::string::npos) {
    GTEST_SKIP() << "this server is built on epoll: " << ReadFile(first_log);
  }
  const std::string refused_log = tmp.path() + "/refused.log";
  ServerProcess refused(tmp.path() + "/data", {}, refused_log, &RefuseIoUringSetup);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.Terminate(), 1);
  const std::string log = ReadFile(refused_log);
  EXPECT_NE(log.find("cannot set up the io threads' io_uring"), std::string::npos) << log;
  EXPECT_NE(log.find("-DEVENTFLOW_IO_URING=OFF"), std::string::npos) << log;
  // The data dir is left as it was: a normal start still works.
  ServerProcess again(tmp.path() + "/data");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.Request("GET", "/healthz").status, 200);
}

TEST(Serve, BadFlagsExitWithUsageStatus) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--fsync", "sometimes"});
  EXPECT_FALSE(server.ok());
  EXPECT_EQ(server.Terminate(), 2);
}

}  // namespace
}  // namespace eventflow

namespace eventflow {
namespace {

using testing::ServerProcess;
using testing::TempDir;

TEST(Serve, FlagsComeFromConfigFileAndEnvironment) {
  TempDir tmp;
  const std::string config = tmp.path() + "/eventflow.toml";
  {
    FILE* f = std::fopen(config.c_str(), "w");
    std::fputs("[serve]\nmax-event-bytes = 2048\nbootstrap-key = \"from-config\"\n", f);
    std::fclose(f);
  }
  ::setenv("EVENTFLOW_MAX_BATCH_EVENTS", "2", 1);
  ::setenv("EVENTFLOW_CONFIG", config.c_str(), 1);
  ServerProcess server(tmp.path() + "/data");
  ::unsetenv("EVENTFLOW_MAX_BATCH_EVENTS");
  ::unsetenv("EVENTFLOW_CONFIG");
  ASSERT_TRUE(server.ok()) << server.first_line();
  const std::string key = "X-API-Key: from-config\r\n";
  ASSERT_EQ(server.Request("POST", "/api/v1/streams", R"({"name":"s"})", key).status, 201);
  const std::string big =
      "{\"event_type\":\"T\",\"payload\":{\"p\":\"" + std::string(3000, 'x') + "\"}}";
  EXPECT_EQ(server.Request("POST", "/api/v1/streams/s/events", big, key).status, 413);
  const std::string ev = R"({"event_type":"T","payload":{}})";
  EXPECT_EQ(server
                .Request("POST", "/api/v1/streams/s/events/batch",
                         "{\"events\":[" + ev + "," + ev + "," + ev + "]}", key)
                .status,
            413);
  EXPECT_EQ(server
                .Request("POST", "/api/v1/streams/s/events/batch",
                         "{\"events\":[" + ev + "," + ev + "]}", key)
                .status,
            202);
}

// scripts/run.sh ends by starting the server: run that line (with the
// binary under test) and check the documented EVENTFLOW_LISTEN and
// EVENTFLOW_DATA_DIR reach it (the script used to pass --listen and
// --data-dir itself, which overrode them).
TEST(Serve, RunScriptIgnoredListenAndDataDirFromTheEnvironment) {
  const std::string script = ReadFile(std::string(EVENTFLOW_SOURCE_DIR) + "/scripts/run.sh");
  const auto at = script.find("exec ./build/release/cli/eventflow");
  ASSERT_NE(at, std::string::npos) << script;
  std::string line = script.substr(at, script.find('\n', at) - at);
  line.replace(0, std::string("exec ./build/release/cli/eventflow").size(),
               "exec '" + testing::EventflowBinary() + "'");
  TempDir tmp;
  const std::string data = tmp.path() + "/from-env";
  const std::string cmd = "cd '" + tmp.path() + "' && EVENTFLOW_LISTEN=127.0.0.1:0 " +
                          "EVENTFLOW_DATA_DIR='" + data + "' bash -c '" + line +
                          "' 2>/dev/null & echo $!; wait";
  FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  // Two lines, in either order: the server's pid, and its first line.
  pid_t pid = 0;
  std::string first;
  char buf[256];
  for (int i = 0; i < 2 && std::fgets(buf, sizeof buf, out) != nullptr; ++i) {
    if (std::isdigit(static_cast<unsigned char>(buf[0]))) {
      pid = static_cast<pid_t>(std::atoi(buf));
    } else {
      first = buf;
    }
  }
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGTERM);
  ::pclose(out);
  EXPECT_EQ(first.rfind("listening on 127.0.0.1:", 0), 0u) << first;
  EXPECT_EQ(first.find(":8080"), std::string::npos) << first;
  EXPECT_TRUE(std::filesystem::exists(data + "/streams")) << "the data dir from the environment";
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/data"));
}

}  // namespace
}  // namespace eventflow
