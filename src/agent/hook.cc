#include "agent/hook.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

extern char** environ;

namespace clustertls::agent {
namespace {

constexpr auto kKillGrace = std::chrono::seconds(2);
constexpr auto kPollInterval = std::chrono::milliseconds(50);

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) {
      ::close(std::exchange(fd_, -1));
    }
  }

 private:
  int fd_;
};

// posix_spawn's attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// The agent's environment without CLUSTERTLS_CHANGED / CLUSTERTLS_DIR, then ours.
std::vector<std::string> HookEnvironment(const HookOptions& options) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    if (var.starts_with("CLUSTERTLS_CHANGED=") || var.starts_with("CLUSTERTLS_DIR=")) {
      continue;
    }
    env.emplace_back(var);
  }
  std::string changed;
  for (const std::string& name : options.changed) {
    changed += (changed.empty() ? "" : " ") + name;
  }
  env.push_back("CLUSTERTLS_CHANGED=" + changed);
  env.push_back("CLUSTERTLS_DIR=" + options.dir);
  return env;
}

}  // namespace

core::Result<HookResult> RunHook(const HookOptions& options) {
  if (options.command.empty()) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "--on-change: empty command");
  }
  if (options.timeout <= std::chrono::seconds(0)) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "--on-change: timeout must be positive");
  }
  const std::string shown = "--on-change \"" + options.command.substr(0, 80) + "\"";

  std::vector<std::string> env = HookEnvironment(options);
  std::vector<char*> envp;
  for (std::string& var : env) {
    envp.push_back(var.data());
  }
  envp.push_back(nullptr);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string command = options.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return core::Fail(core::ErrorCode::kIo,
                      shown + ": cannot make a pipe: " + std::strerror(errno));
  }
  Fd out(pipe_fds[0]);
  Fd out_write(pipe_fds[1]);

  // Own process group (for the kill at the timeout), every signal at its default (an agent
  // ignoring SIGPIPE must not pass that on), none blocked; stdin /dev/null, stdout and stderr
  // into the pipe (the pipe's own descriptors are close-on-exec).
  SpawnSetup setup;
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.get(), 2);

  HookResult result;
  result.at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  pid_t pid = -1;
  if (int rc = ::posix_spawn(&pid, "/bin/sh", &setup.actions, &setup.attr, argv, envp.data());
      rc != 0) {
    return core::Fail(core::ErrorCode::kIo, shown + ": cannot run /bin/sh: " + std::strerror(rc));
  }
  out_write.Close();  // the read end sees EOF once every writer is gone
  ::fcntl(out.get(), F_SETFL, ::fcntl(out.get(), F_GETFL) | O_NONBLOCK);

  bool eof = false;
  auto drain = [&] {
    char buf[8192];
    while (!eof) {
      const ssize_t n = ::read(out.get(), buf, sizeof buf);
      if (n > 0) {
        result.output_tail.append(buf, static_cast<std::size_t>(n));
        if (result.output_tail.size() > 2 * kHookOutputTailBytes) {
          result.output_tail.erase(0, result.output_tail.size() - kHookOutputTailBytes);
        }
      } else if (n == 0) {
        eof = true;
      } else if (errno != EINTR) {
        return;  // EAGAIN: nothing more for now
      }
    }
  };
  // Reads the output until the shell has exited (left a zombie, WNOWAIT, so that its pid and
  // process group cannot be reused before the kill below), and with `until_eof` until every
  // writer of the pipe is gone too, or until `budget` is spent.
  auto wait_exit = [&](std::chrono::steady_clock::duration budget, bool until_eof) {
    const auto until = std::chrono::steady_clock::now() + budget;
    for (;;) {
      drain();
      siginfo_t info{};
      const int w = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if ((w == 0 && info.si_pid == pid) || (w != 0 && errno == ECHILD)) {
        drain();
        if (eof || !until_eof) {
          return true;
        }
      }
      const auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        return false;
      }
      const auto wait = std::min<std::chrono::steady_clock::duration>(left, kPollInterval);
      const int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
      pollfd p{.fd = out.get(), .events = POLLIN, .revents = 0};
      ::poll(&p, eof ? 0 : 1, ms);  // after EOF, only a sleep
    }
  };

  if (!wait_exit(options.timeout, /*until_eof=*/false)) {
    result.timed_out = true;
    ::kill(-pid, SIGTERM);
    // The group's other processes (the shell's children) get the same grace as the shell.
    wait_exit(kKillGrace, /*until_eof=*/true);
    ::kill(-pid, SIGKILL);
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  drain();
  if (result.output_tail.size() > kHookOutputTailBytes) {
    result.output_tail.erase(0, result.output_tail.size() - kHookOutputTailBytes);
  }
  result.exit_code =
      (reaped == pid && WIFEXITED(status) && !result.timed_out) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace clustertls::agent
