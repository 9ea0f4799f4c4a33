// Runs `eventflow <args>` to completion and captures stdout, stderr and the
// exit code, for end-to-end tests of the operator commands.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/e2e/server_process.h"

namespace eventflow::testing {

struct CliResult {
  int exit_code = -1;  // -signal if killed by one
  std::string out, err;
};

inline std::string ReadFd(int fd) {
  std::string s;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
  return s;
}

// stderr goes to a temporary file so a full stdout pipe cannot deadlock.
// `env` adds NAME=VALUE pairs to the child's environment.
inline CliResult RunCli(std::vector<std::string> args,
                        const std::vector<std::pair<std::string, std::string>>& env = {}) {
  CliResult r;
  int out[2];
  if (::pipe(out) != 0) return r;
  FILE* err = std::tmpfile();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(::fileno(err), 2);
    ::close(out[0]);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    args.insert(args.begin(), EventflowBinary());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  r.out = ReadFd(out[0]);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  std::rewind(err);
  r.err = ReadFd(::fileno(err));
  std::fclose(err);
  return r;
}

}  // namespace eventflow::testing
