// The network policy tests' lab (see netpolicy_lab.h).
#include "privileged/netpolicy_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

namespace vigil::test {
namespace {

std::string random_tag() {
  std::random_device device;
  char text[8];
  std::snprintf(text, sizeof(text), "%06x", device() & 0xffffff);
  return text;
}

bool sh(const std::string& command, std::string* error = nullptr) {
  const CommandResult result = run_shell(command, 60);
  if (result.exit_code == 0) return true;
  if (error) *error = command + ": " + result.err + result.out;
  return false;
}

bool fill_address(const std::string& address, int port, sockaddr_storage& storage, socklen_t& length) {
  std::memset(&storage, 0, sizeof(storage));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(*v6);
    return true;
  }
  return false;
}

int wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  const int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  return rc > 0 ? 0 : rc == 0 ? ETIMEDOUT : errno;
}

}  // namespace

int tcp_connect(const std::string& address, int port, std::chrono::milliseconds timeout) {
  sockaddr_storage storage;
  socklen_t length = 0;
  if (!fill_address(address, port, storage, length)) return EINVAL;
  const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int result = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    result = errno;
    if (result == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (rc == 0) {
        result = ETIMEDOUT;
      } else {
        socklen_t size = sizeof(result);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &size);
      }
    }
  }
  ::close(fd);
  return result;
}

int udp_exchange(const std::string& address, int port, std::chrono::milliseconds timeout) {
  sockaddr_storage storage;
  socklen_t length = 0;
  if (!fill_address(address, port, storage, length)) return EINVAL;
  const int fd = ::socket(storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int result = 0;
  if (::sendto(fd, "ping", 4, 0, reinterpret_cast<sockaddr*>(&storage), length) < 0) {
    result = errno;
  } else if ((result = wait_readable(fd, timeout)) == 0) {
    char buffer[16];
    if (::recv(fd, buffer, sizeof(buffer), 0) < 0) result = errno;
  }
  ::close(fd);
  return result;
}

int icmp_echo(const std::string& address, std::chrono::milliseconds timeout) {
  sockaddr_storage storage;
  socklen_t length = 0;
  if (!fill_address(address, 0, storage, length)) return EINVAL;
  const bool v6 = storage.ss_family == AF_INET6;
  const int fd = ::socket(storage.ss_family, SOCK_RAW | SOCK_CLOEXEC, v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
  if (fd < 0) return errno;
  std::uint8_t packet[16] = {};
  packet[0] = v6 ? 128 : 8;  // echo request
  const std::uint16_t id = static_cast<std::uint16_t>(::getpid());
  std::memcpy(packet + 4, &id, 2);
  if (!v6) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < sizeof(packet); i += 2) sum += static_cast<std::uint32_t>(packet[i] << 8 | packet[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const std::uint16_t checksum = static_cast<std::uint16_t>(~sum);
    packet[2] = static_cast<std::uint8_t>(checksum >> 8);
    packet[3] = static_cast<std::uint8_t>(checksum);
  }
  int result = 0;
  if (::sendto(fd, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&storage), length) < 0) {
    result = errno;
  } else {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    result = ETIMEDOUT;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (wait_readable(fd, left) != 0) break;
      std::uint8_t reply[256];
      const ssize_t n = ::recv(fd, reply, sizeof(reply), 0);
      if (n <= 0) break;
      const std::size_t offset = v6 ? 0 : static_cast<std::size_t>(reply[0] & 0xf) * 4;  // raw IPv4 includes the header
      if (static_cast<std::size_t>(n) < offset + 8) continue;
      if (reply[offset] == (v6 ? 129 : 0) && std::memcmp(reply + offset + 4, &id, 2) == 0) {
        result = 0;
        break;
      }
    }
  }
  ::close(fd);
  return result;
}

NetLab::NetLab() : tag_(random_tag()) {
  if (::geteuid() != 0) {
    unavailable_ = "needs root";
    return;
  }
  if (!RuncContainer::available()) {
    unavailable_ = "needs runc and a static busybox";
    return;
  }
  if (!have_program("ip") || !have_program("nsenter")) {
    unavailable_ = "needs ip (iproute2) and nsenter";
    return;
  }
  for (const auto& mount : read_mountinfo()) {
    if (mount.fstype == "cgroup2" && mount.root == "/") {
      cgroup_root_ = mount.mount_point;
      break;
    }
  }
  if (cgroup_root_.empty()) {
    unavailable_ = "no cgroup2 hierarchy mounted";
    return;
  }
  lab_cgroup_ = cgroup_root_ + "/vigil-np-" + tag_;
  if (::mkdir(lab_cgroup_.c_str(), 0755) != 0) {
    unavailable_ = "cannot create " + lab_cgroup_ + ": " + std::strerror(errno);
    lab_cgroup_.clear();
    return;
  }
  pin_dir_ = "/sys/fs/bpf/vigil-np-test-" + tag_;
  bridge_netns_ = "vnp-" + tag_;
  std::string error;
  if (!sh("ip netns add " + bridge_netns_, &error)) {
    unavailable_ = error;
    return;
  }
  netns_created_ = true;
  if (!sh("ip -n " + bridge_netns_ + " link add br0 type bridge && ip -n " + bridge_netns_ +
              " link set br0 up && ip -n " + bridge_netns_ + " link set lo up",
          &error))
    unavailable_ = error;
}

NetLab::~NetLab() {
  for (pid_t pid : servers_) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  if (!pin_dir_.empty()) (void)probe::NetPolicyKernel::detach(pin_dir_);
  workloads_.clear();  // runc kill + delete
  if (netns_created_) sh("ip netns del " + bridge_netns_);
  if (!lab_cgroup_.empty()) {
    for (int i = 0; i < 50 && ::rmdir(lab_cgroup_.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

LabWorkload& NetLab::add_workload() {
  const std::size_t index = workloads_.size();
  auto workload = std::make_unique<LabWorkload>();
  RuncOptions options;
  options.cgroups_path = "/vigil-np-" + tag_ + "/{id}";
  auto started = RuncContainer::start(options);
  if (!started) throw std::runtime_error("runc: " + started.error());
  workload->container = std::move(*started);
  const pid_t pid = workload->container->init_pid();
  workload->cgroup_dir = cgroup_root_ + workload->container->cgroups_path();
  struct stat st {};
  if (::stat(workload->cgroup_dir.c_str(), &st) != 0) {
    // runc without the v2 hierarchy (hybrid mode, old runc): place the container there ourselves.
    ::mkdir(workload->cgroup_dir.c_str(), 0755);
    write_text(workload->cgroup_dir + "/cgroup.procs", std::to_string(pid));
    ::stat(workload->cgroup_dir.c_str(), &st);
  }
  workload->cgroup_id = st.st_ino;
  workload->ipv4 = "198.18.0." + std::to_string(10 + index);
  workload->ipv6 = "2001:2::" + std::to_string(10 + index);
  workload->host_veth = "vh" + std::to_string(index) + tag_;
  const std::string inner = "vc" + std::to_string(index) + tag_;
  std::string error;
  const std::string ns = "ip -n " + bridge_netns_ + " ";
  if (!sh(ns + "link add " + workload->host_veth + " type veth peer name " + inner + " netns " + std::to_string(pid) +
              " && " + ns + "link set " + workload->host_veth + " master br0 up",
          &error))
    throw std::runtime_error(error);
  const std::string in = "nsenter -t " + std::to_string(pid) + " -n ";
  if (!sh(in + "ip link set lo up && " + in + "ip link set " + inner + " up && " + in + "ip addr add " +
              workload->ipv4 + "/24 dev " + inner + " && " + in + "ip -6 addr add " + workload->ipv6 + "/64 dev " +
              inner + " nodad",
          &error))
    throw std::runtime_error(error);
  workloads_.push_back(std::move(workload));
  return *workloads_.back();
}

Result<probe::NetPolicyKernel> NetLab::open_kernel(std::vector<std::string> host_interfaces, bool force_tc) {
  probe::NetPolicyKernelOptions options;
  options.pin_dir = pin_dir_;
  options.cgroup_dir = lab_cgroup_;
  options.host_interfaces = std::move(host_interfaces);
  options.force_tc = force_tc;
  if (options.host_interfaces.empty()) return probe::NetPolicyKernel::open(options);
  // Interfaces live in the bridge namespace: open there (setns affects this thread only).
  std::optional<Result<probe::NetPolicyKernel>> result;
  std::thread opener([&] {
    const int fd = ::open(("/run/netns/" + bridge_netns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      result = fail_errno("joining " + bridge_netns_);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    result = probe::NetPolicyKernel::open(options);
  });
  opener.join();
  return std::move(*result);
}

netpolicy::SubjectResolver NetLab::resolver() const {
  netpolicy::SubjectResolver resolver;
  resolver.cgroup_ids = [this](const netpolicy::SubjectSelector& selector) {
    std::vector<std::uint64_t> ids;
    if (selector.kind == netpolicy::SubjectKind::cgroup) {
      struct stat st {};
      if (::stat((cgroup_root_ + selector.value).c_str(), &st) == 0) ids.push_back(st.st_ino);
      return ids;
    }
    for (const auto& workload : workloads_) {
      if (::fnmatch(selector.value.c_str(), workload->container->id().c_str(), 0) == 0)
        ids.push_back(workload->cgroup_id);
    }
    return ids;
  };
  resolver.signer_id = [](std::string_view) { return 1u; };
  resolver.addresses = [this](const netpolicy::SubjectSelector& selector) {
    std::vector<netpolicy::Cidr> addresses;
    for (const auto& workload : workloads_) {
      if (::fnmatch(selector.value.c_str(), workload->container->id().c_str(), 0) == 0) {
        addresses.push_back(netpolicy::parse_cidr(workload->ipv4).value());
        addresses.push_back(netpolicy::parse_cidr(workload->ipv6).value());
      }
    }
    return addresses;
  };
  return resolver;
}

netpolicy::CompiledPolicy NetLab::compile(const std::string& text) const {
  netpolicy::PolicySet set;
  std::vector<netpolicy::Diagnostic> diagnostics;
  netpolicy::parse_policy_text(text, "lab.yaml", set, diagnostics);
  netpolicy::check_policy_set(set, diagnostics);
  if (!diagnostics.empty()) throw std::runtime_error(diagnostics.front().to_string());
  auto compiled = netpolicy::compile(set, resolver());
  if (!compiled) throw std::runtime_error(compiled.error().message);
  return std::move(*compiled);
}

namespace {

// In a forked child: joins the workload's cgroup and network namespace.
bool join(const LabWorkload& workload) {
  const int procs = ::open((workload.cgroup_dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (procs < 0 || ::write(procs, "0", 1) != 1) return false;
  ::close(procs);
  const int net = ::open(("/proc/" + std::to_string(workload.container->init_pid()) + "/ns/net").c_str(),
                         O_RDONLY | O_CLOEXEC);
  if (net < 0 || ::setns(net, CLONE_NEWNET) != 0) return false;
  ::close(net);
  return true;
}

}  // namespace

ProbeResult NetLab::run_in(const LabWorkload& workload, const std::function<int()>& body,
                           std::chrono::milliseconds timeout) {
  const pid_t pid = ::fork();
  if (pid < 0) return {errno, 0};
  if (pid == 0) {
    if (!join(workload)) ::_exit(250);
    ::_exit(body());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return {ETIME, pid};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 255, pid};
}

void NetLab::serve(const LabWorkload& workload, const std::vector<int>& ports) {
  int ready[2];
  if (::pipe(ready) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::close(ready[0]);
    if (!join(workload)) ::_exit(250);
    std::vector<pollfd> fds;
    for (int port : ports) {
      for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
        const int fd = ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
        int off = 0, on = 1;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        sockaddr_in6 address{};
        address.sin6_family = AF_INET6;
        address.sin6_port = htons(static_cast<std::uint16_t>(port));
        address.sin6_addr = in6addr_any;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) ::_exit(251);
        if (type == SOCK_STREAM && ::listen(fd, 1024) != 0) ::_exit(252);
        fds.push_back({fd, POLLIN, static_cast<short>(type)});
      }
    }
    if (::write(ready[1], "r", 1) != 1) ::_exit(253);
    for (;;) {
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      for (auto& p : fds) {
        if (!(p.revents & POLLIN)) continue;
        if (p.events & POLLIN && p.revents & POLLIN) {
          sockaddr_storage peer{};
          socklen_t length = sizeof(peer);
          int type = 0;
          socklen_t type_length = sizeof(type);
          ::getsockopt(p.fd, SOL_SOCKET, SO_TYPE, &type, &type_length);
          if (type == SOCK_STREAM) {
            const int conn = ::accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (conn >= 0) ::close(conn);
          } else {
            char buffer[64];
            const ssize_t n = ::recvfrom(p.fd, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&peer), &length);
            if (n > 0) ::sendto(p.fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), length);
          }
        }
      }
    }
  }
  ::close(ready[1]);
  servers_.push_back(pid);
  char byte = 0;
  const bool ok = ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);
  if (!ok) throw std::runtime_error("the lab server did not start");
}

}  // namespace vigil::test
