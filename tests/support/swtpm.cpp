#include "support/swtpm.h"

#include "common/unique_fd.h"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vigil::test {
namespace {

using Clock = std::chrono::steady_clock;

// A TCP socket closed on every return (a prvalue: UniqueFd neither copies nor moves).
UniqueFd tcp_socket() { return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

bool can_bind(int port) {
  UniqueFd sock = tcp_socket();
  const sockaddr_in address = loopback(port);
  return sock.get() >= 0 && ::bind(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

// A port P from the kernel's ephemeral range such that P+1 is free as well (swtpm's TCTI
// expects the control channel on P+1). Another process may still take them before swtpm
// binds: start() notices (swtpm exits, or the listener is not swtpm's) and tries again.
int pick_port_pair() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    UniqueFd sock = tcp_socket();
    sockaddr_in address = loopback(0);
    if (sock.get() < 0 || ::bind(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) continue;
    socklen_t length = sizeof address;
    if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) continue;
    const int port = ntohs(address.sin_port);
    if (port > 0 && port < 65535 && can_bind(port + 1)) return port;
  }
  return 0;
}

// Socket inodes listening on 127.0.0.1:port (or 0.0.0.0:port), from /proc/net/tcp.
std::vector<std::string> listening_inodes(int port) {
  std::vector<std::string> inodes;
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // header
  char wanted_loopback[32];
  char wanted_any[32];
  std::snprintf(wanted_loopback, sizeof wanted_loopback, "0100007F:%04X", port);
  std::snprintf(wanted_any, sizeof wanted_any, "00000000:%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state == "0A" && (local == wanted_loopback || local == wanted_any)) inodes.push_back(inode);
  }
  return inodes;
}

// True when process `pid` holds the socket listening on `port`, i.e. the port is ours and
// not a neighbour's that happened to pick the same number.
bool pid_listens_on(pid_t pid, int port) {
  const auto inodes = listening_inodes(port);
  if (inodes.empty()) return false;
  std::error_code error;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fd_dir, error)) {
    std::error_code link_error;
    const auto target = std::filesystem::read_symlink(entry.path(), link_error).string();
    for (const auto& inode : inodes) {
      if (target == "socket:[" + inode + "]") return true;
    }
  }
  return false;
}

// Sends TPM2_GetCapability and waits (bounded) for a TPM 2.0 response header.
bool answers_tpm_command(int port, int timeout_ms) {
  UniqueFd sock = tcp_socket();
  if (sock.get() < 0) return false;
  const timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const sockaddr_in address = loopback(port);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return false;
  static constexpr uint8_t kGetCapability[] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x01, 0x7a, 0x00,
                                               0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01};
  if (::send(sock.get(), kGetCapability, sizeof kGetCapability, MSG_NOSIGNAL) != sizeof kGetCapability) return false;
  std::array<uint8_t, 4096> response{};
  size_t have = 0;
  size_t want = 10;
  while (have < want) {
    const ssize_t got = ::recv(sock.get(), response.data() + have, want - have, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    have += static_cast<size_t>(got);
    if (have == 10) {
      if (response[0] != 0x80 || (response[1] != 0x01 && response[1] != 0x02)) return false;
      want = static_cast<size_t>(response[2]) << 24 | static_cast<size_t>(response[3]) << 16 |
             static_cast<size_t>(response[4]) << 8 | response[5];
      if (want < 10 || want > response.size()) return false;
    }
  }
  return true;
}

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

}  // namespace

bool SwtpmProcess::available(const SwtpmOptions& options) {
  if (find_program("swtpm").empty()) return false;
  const bool setup = options.with_ek || options.with_ek_cert || !options.pcr_banks.empty();
  if (setup && find_program("swtpm_setup").empty()) return false;
  if (options.with_ek_cert && find_program("swtpm_localca").empty()) return false;
  return true;
}

std::expected<std::unique_ptr<SwtpmProcess>, std::string> SwtpmProcess::start(const SwtpmOptions& options) {
  const std::string swtpm = find_program("swtpm");
  if (swtpm.empty()) return std::unexpected("swtpm is not installed (Debian: swtpm, swtpm-tools)");

  std::unique_ptr<SwtpmProcess> process(new SwtpmProcess());
  const TempDir& dir = process->dir_;
  process->state_dir_ = dir / "state";
  if (::mkdir(process->state_dir_.c_str(), 0700) != 0) {
    return std::unexpected("mkdir " + process->state_dir_ + ": " + std::strerror(errno));
  }

  // Manufacture the TPM when asked for EKs or a bank selection. All configuration lives in the
  // temp dir: swtpm_setup's defaults would put the local CA in /var/lib/swtpm-localca.
  if (options.with_ek || options.with_ek_cert || !options.pcr_banks.empty()) {
    if (find_program("swtpm_setup").empty()) return std::unexpected("swtpm_setup is not installed (Debian: swtpm-tools)");
    ::mkdir((dir / "ca").c_str(), 0700);
    ::mkdir((dir / "ek-certs").c_str(), 0700);
    write_text(dir / "swtpm_setup.conf",
               "create_certs_tool = " + find_program("swtpm_localca") + "\n" +
                   "create_certs_tool_config = " + (dir / "localca.conf") + "\n" +
                   "create_certs_tool_options = " + (dir / "localca.options") + "\n");
    write_text(dir / "localca.conf", "statedir = " + (dir / "ca") + "\n" +
                                         "signingkey = " + (dir / "ca/signkey.pem") + "\n" +
                                         "issuercert = " + (dir / "ca/issuercert.pem") + "\n" +
                                         "certserial = " + (dir / "ca/certserial") + "\n");
    write_text(dir / "localca.options",
               "--platform-manufacturer vigil-test\n--platform-version 1.0\n--platform-model swtpm\n");
    std::vector<std::string> argv = {"swtpm_setup", "--tpm2", "--tpmstate", process->state_dir_, "--config",
                                     dir / "swtpm_setup.conf", "--overwrite", "--pcr-banks",
                                     options.pcr_banks.empty() ? "-" : options.pcr_banks};
    if (options.with_ek_cert) {
      argv.insert(argv.end(), {"--create-ek-cert", "--write-ek-cert-files", dir / "ek-certs"});
    } else if (options.with_ek) {
      argv.push_back("--createek");
    }
    const CommandResult setup = run(argv, 60);
    if (setup.exit_code != 0) {
      return std::unexpected("swtpm_setup failed (exit " + std::to_string(setup.exit_code) +
                             (setup.timed_out ? ", timed out" : "") + "):\n" + tail(setup.out + setup.err));
    }
  }

  process->swtpm_path_ = swtpm;
  process->start_timeout_ms_ = options.start_timeout_ms;
  std::string last_error = "no attempt";
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int port = pick_port_pair();
    if (port == 0) return std::unexpected("no free pair of TCP ports on 127.0.0.1");
    bool exited_at_start = false;
    last_error = process->launch(port, &exited_at_start);
    if (last_error.empty()) return process;
    // Exiting at start most likely means a port was taken between pick_port_pair() and
    // swtpm's bind: try other ports. Anything else is final.
    if (!exited_at_start) return std::unexpected(last_error);
  }
  return std::unexpected(last_error);
}

std::string SwtpmProcess::launch(int port, bool* exited_at_start) {
  *exited_at_start = false;
  const std::string output_path = dir_ / "swtpm.out";
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  const std::vector<std::string> args = {
      swtpm_path_, "socket", "--tpm2", "--tpmstate", "dir=" + state_dir_,
      "--server", "type=tcp,port=" + std::to_string(port) + ",bindaddr=127.0.0.1",
      "--ctrl", "type=tcp,port=" + std::to_string(port + 1) + ",bindaddr=127.0.0.1",
      "--flags", "not-need-init,startup-clear"};
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const int output = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (output < 0) return "open " + output_path + ": " + std::strerror(errno);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(output);
    return std::string("fork: ") + std::strerror(errno);
  }
  if (pid == 0) {
    // Dies with the test process even if no destructor runs (crash, abort, SIGKILL).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(output, STDOUT_FILENO);
    ::dup2(output, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(output);
  pid_ = pid;
  port_ = port;

  // Ready when swtpm itself holds both ports and answers a TPM command; bounded.
  const auto deadline = Clock::now() + std::chrono::milliseconds(start_timeout_ms_);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid_ = -1;
      *exited_at_start = true;
      return "swtpm exited at start:\n" + tail(log());
    }
    if (pid_listens_on(pid, port) && pid_listens_on(pid, port + 1) && answers_tpm_command(port, 1000)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  return "swtpm did not answer on 127.0.0.1:" + std::to_string(port) + " within " +
         std::to_string(start_timeout_ms_) + " ms:\n" + tail(log());
}

std::string SwtpmProcess::restart() {
  stop();
  if (port_ == 0) return "swtpm was never started";
  bool exited_at_start = false;
  return launch(port_, &exited_at_start);
}

SwtpmProcess::~SwtpmProcess() { stop(); }

void SwtpmProcess::stop() {
  if (pid_ <= 0) return;
  // Our own child, not yet reaped, so the PID cannot have been reused.
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string SwtpmProcess::tcti_spec() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

std::string SwtpmProcess::log() const { return read_text(dir_ / "swtpm.out"); }

}  // namespace vigil::test
