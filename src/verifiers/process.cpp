#include "verifiers/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ponder::verifiers {

namespace {

constexpr size_t kErrorTail = 2048;
constexpr int kPollMs = 20;

std::string system_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// The file descriptors of one run, closed on every path out.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(system_error("cannot create a pipe"));
  read_end.fd = p[0];
  write_end.fd = p[1];
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw std::runtime_error(system_error("cannot make a pipe non-blocking"));
  }
}

// Writing to a program that stopped reading raises SIGPIPE, which would end this whole
// process. The signal is blocked in this thread only while the run lasts; one left
// pending is taken before the old mask comes back.
struct BlockSigpipe {
  sigset_t pipe_only, old;
  BlockSigpipe() {
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  }
  ~BlockSigpipe() {
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &now) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
};

struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

CommandRun run_command(const std::vector<std::string>& argv, const std::string& input, double timeout_s,
                       size_t max_output, const std::atomic<bool>* cancel) {
  if (argv.empty() || argv[0].empty()) throw std::invalid_argument("run_command: no program given");
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  const BlockSigpipe no_sigpipe;

  Fd in_read, in_write, out_read, out_write, err_read, err_write;
  make_pipe(in_read, in_write);
  make_pipe(out_read, out_write);
  make_pipe(err_read, err_write);

  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, in_read.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err_write.fd, STDERR_FILENO);
  // Its own process group (killed as one), default signal handling and no blocked
  // signals, whatever this thread had.
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &pipe_only);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, args[0], &setup.actions, &setup.attr, args.data(), environ);
  in_read.close();
  out_write.close();
  err_write.close();
  if (spawned != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(spawned));

  CommandRun run;
  bool must_kill = false;
  size_t written = 0;
  if (input.empty()) in_write.close();
  if (in_write.fd >= 0) set_nonblocking(in_write.fd);
  set_nonblocking(out_read.fd);
  set_nonblocking(err_read.fd);

  auto expired = [&] {
    if (cancel && cancel->load()) return run.cancelled = true;
    if (Clock::now() >= deadline) return run.timed_out = true;
    return false;
  };
  char buffer[16384];
  while (out_read.fd >= 0 || err_read.fd >= 0) {
    if (expired()) {
      must_kill = true;
      break;
    }
    pollfd fds[3];
    Fd* owners[3];
    nfds_t n = 0;
    if (in_write.fd >= 0) fds[n] = {in_write.fd, POLLOUT, 0}, owners[n++] = &in_write;
    if (out_read.fd >= 0) fds[n] = {out_read.fd, POLLIN, 0}, owners[n++] = &out_read;
    if (err_read.fd >= 0) fds[n] = {err_read.fd, POLLIN, 0}, owners[n++] = &err_read;
    const int ready = ::poll(fds, n, kPollMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      must_kill = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw std::runtime_error(system_error("cannot watch " + argv[0]));
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (fds[k].revents == 0) continue;
      Fd& fd = *owners[k];
      if (&fd == &in_write) {
        const ssize_t w = ::write(fd.fd, input.data() + written, input.size() - written);
        if (w > 0) written += size_t(w);
        // A program may answer without reading all of its input: that is its business.
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) fd.close();
        continue;
      }
      const ssize_t r = ::read(fd.fd, buffer, sizeof buffer);
      if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) fd.close();
        continue;
      }
      if (r == 0) {
        fd.close();
        continue;
      }
      if (&fd == &out_read) {
        run.output.append(buffer, size_t(r));
        if (run.output.size() > max_output) {
          run.output.resize(max_output);
          run.too_long = true;
        }
      } else {
        run.errors.append(buffer, size_t(r));
        if (run.errors.size() > kErrorTail) run.errors.erase(0, run.errors.size() - kErrorTail);
      }
    }
    if (run.too_long) {
      must_kill = true;
      break;
    }
  }
  in_write.close();

  int status = 0;
  if (!must_kill) {
    // Its output is closed; it may still be running (or have left a child holding nothing).
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) throw std::runtime_error(system_error("cannot wait for " + argv[0]));
      if (expired()) {
        must_kill = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (must_kill) {
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) throw std::runtime_error(system_error("cannot wait for " + argv[0]));
    }
    return run;
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  return run;
}

}  // namespace ponder::verifiers
