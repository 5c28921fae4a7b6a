// Field extraction: every field vigil supports, from constructed events and a process table
// seeded from a fake /proc.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "rules_test_support.h"

using namespace vigil;
using vigil::test::decoded;

namespace {

class RulesFields : public ::testing::Test {
 protected:
  test::RulesWorld world;

  // The value %field renders to for this event ("<NA>" when missing).
  std::string value(const std::string& field, const events::Event& event, bool with_table = true) {
    rules::LoadReport report;
    rules::RuleSet set = test::load_rules(test::one_rule("evt.type exists", "%" + field), report);
    EXPECT_TRUE(report.ok()) << field << "\n" << test::all_diagnostics(report);
    auto hits = test::evaluate(set, event, with_table ? world.table.get() : nullptr);
    if (hits.size() != 1 || hits[0].fields.size() != 1) return "<no match>";
    return hits[0].fields[0].second;
  }
  bool holds(const std::string& condition, const events::Event& event) {
    rules::LoadReport report;
    rules::RuleSet set = test::load_rules(test::one_rule(condition), report);
    EXPECT_TRUE(report.ok()) << condition << "\n" << test::all_diagnostics(report);
    return !test::evaluate(set, event, world.table.get()).empty();
  }
};

TEST_F(RulesFields, EventFields) {
  auto open = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc/passwd", 3, O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(value("evt.type", *open), "openat");
  EXPECT_EQ(value("evt.dir", *open), "<");
  EXPECT_EQ(value("evt.time", *open), "5000000042");
  EXPECT_EQ(value("evt.rawtime", *open), "5000000042");
  EXPECT_EQ(value("evt.num", *open), "1");
  EXPECT_EQ(value("evt.res", *open), "SUCCESS");
  EXPECT_EQ(value("evt.rawres", *open), "3");
  EXPECT_EQ(value("evt.failed", *open), "false");
  EXPECT_EQ(value("evt.is_open_read", *open), "true");
  EXPECT_EQ(value("evt.is_open_write", *open), "false");
  EXPECT_EQ(value("evt.is_open_exec", *open), "false");
  EXPECT_EQ(value("evt.source", *open), "syscall");
  EXPECT_EQ(value("evt.arg.flags", *open), "O_RDONLY|O_CLOEXEC");
  EXPECT_EQ(value("evt.arg.name", *open), "/etc/passwd");
  EXPECT_EQ(value("evt.arg.dirfd", *open), "-100");
  EXPECT_EQ(value("evt.arg[0]", *open), "3");
  EXPECT_EQ(value("evt.arg[2]", *open), "/etc/passwd");
  EXPECT_EQ(value("evt.arg.nosuch", *open), "<NA>");
  EXPECT_EQ(value("evt.args", *open),
            "fd=3 dirfd=-100 name=/etc/passwd flags=O_RDONLY|O_CLOEXEC mode=00 dev=/etc/passwd ino=0");

  auto failed = decoded(test::file_record(VIGIL_NR_openat, 100, "/nope", -2, O_WRONLY | O_CREAT | O_TRUNC));
  EXPECT_EQ(value("evt.res", *failed), "ENOENT");
  EXPECT_EQ(value("evt.failed", *failed), "true");
  EXPECT_EQ(value("fd.num", *failed), "-1");
  EXPECT_EQ(value("evt.is_open_write", *failed), "true");
  EXPECT_EQ(value("evt.arg.flags", *failed), "O_WRONLY|O_CREAT|O_TRUNC");

  auto exec_create = test::file_record(VIGIL_NR_openat, 100, "/tmp/x", 4, O_WRONLY | O_CREAT);
  exec_create.mode = 0755;
  auto created = decoded(exec_create);
  EXPECT_EQ(value("evt.is_open_exec", *created), "true");
  EXPECT_EQ(value("evt.arg.mode", *created), "0755");
}

TEST_F(RulesFields, ProcessFieldsFromTheTable) {
  auto event = decoded(test::file_record(VIGIL_NR_openat, 200, "x", 3, O_RDONLY, "sudo"));
  EXPECT_EQ(value("proc.name", *event), "sudo");
  EXPECT_EQ(value("proc.exe", *event), "sudo");
  EXPECT_EQ(value("proc.exepath", *event), "/usr/bin/sudo");
  EXPECT_EQ(value("proc.args", *event), "-i");
  EXPECT_EQ(value("proc.cmdline", *event), "sudo -i");
  EXPECT_EQ(value("proc.pid", *event), "200");
  EXPECT_EQ(value("proc.ppid", *event), "1");  // the header's (fill_header), not the table's
  EXPECT_EQ(value("thread.tid", *event), "201");
  EXPECT_EQ(value("proc.cwd", *event), "/home/user");
  EXPECT_EQ(value("proc.tty", *event), "34817");
  EXPECT_EQ(value("user.uid", *event), "0");  // effective
  EXPECT_EQ(value("user.name", *event), "root");
  EXPECT_EQ(value("user.loginuid", *event), "1000");
  EXPECT_EQ(value("group.gid", *event), "0");
  EXPECT_EQ(value("group.name", *event), "root");
  EXPECT_EQ(value("thread.cap_effective", *event), "CAP_CHOWN CAP_SYS_ADMIN");
  EXPECT_EQ(value("thread.cap_permitted", *event), "CAP_CHOWN CAP_SYS_ADMIN");
  EXPECT_TRUE(holds("thread.cap_effective contains CAP_SYS_ADMIN", *event));
  EXPECT_TRUE(holds("thread.cap_effective icontains sys_admin", *event));
  EXPECT_EQ(value("proc.is_exe_from_memfd", *event), "false");
  EXPECT_EQ(value("proc.is_exe_upper_layer", *event), "false");
  EXPECT_EQ(value("container.id", *event), "host");
  EXPECT_EQ(value("container.name", *event), "host");
  EXPECT_EQ(value("container.info", *event), "container_id=host container_name=host");
  EXPECT_EQ(value("proc.duration", *event), std::to_string(5'000'000'042ull - 20 * (1'000'000'000ull / sysconf(_SC_CLK_TCK))));
  // Without the table only the event's own fields exist.
  EXPECT_EQ(value("proc.name", *event, false), "sudo");
  EXPECT_EQ(value("proc.exepath", *event, false), "<NA>");
  EXPECT_EQ(value("user.uid", *event, false), "1000");
  EXPECT_EQ(value("user.loginuid", *event, false), "-1");
  EXPECT_EQ(value("container.id", *event, false), "<NA>");
}

TEST_F(RulesFields, Ancestors) {
  auto record = test::file_record(VIGIL_NR_openat, 200, "x", 3, O_RDONLY, "sudo");
  record.header.ppid = 100;
  auto event = decoded(record);
  EXPECT_EQ(value("proc.pname", *event), "bash");
  EXPECT_EQ(value("proc.pexe", *event), "-bash");
  EXPECT_EQ(value("proc.pexepath", *event), "/usr/bin/bash");
  EXPECT_EQ(value("proc.pcmdline", *event), "bash");
  EXPECT_EQ(value("proc.aname[0]", *event), "sudo");
  EXPECT_EQ(value("proc.aname[1]", *event), "bash");
  EXPECT_EQ(value("proc.aname[2]", *event), "systemd");
  EXPECT_EQ(value("proc.aname[3]", *event), "<NA>");
  EXPECT_EQ(value("proc.aname", *event), "bash systemd");
  EXPECT_EQ(value("proc.apid[2]", *event), "1");
  EXPECT_EQ(value("proc.aexepath[2]", *event), "/usr/lib/systemd/systemd");
  EXPECT_EQ(value("proc.acmdline[2]", *event), "systemd splash");
  EXPECT_TRUE(holds("proc.aname = systemd", *event));
  EXPECT_TRUE(holds("proc.aname in (init, bash)", *event));
  EXPECT_FALSE(holds("proc.aname = sudo", *event));
  EXPECT_TRUE(holds("proc.pname exists and not proc.aname[3] exists", *event));
}

TEST_F(RulesFields, ContainerProcess) {
  auto event = decoded(test::proc_record(VIGIL_NR_finit_module, 300, 0, {5, 0, 0}, "nginx"));
  EXPECT_EQ(value("container.id", *event), "feedfacecafe");
  EXPECT_TRUE(holds("container.id != host and thread.cap_effective contains CAP_SYS_MODULE", *event));
  EXPECT_EQ(value("user.loginuid", *event), "-1");
}

TEST_F(RulesFields, OpenPathsResolveAgainstCwdAndDirfd) {
  auto relative = decoded(test::file_record(VIGIL_NR_openat, 100, "../user/./notes//a.txt", 5));
  EXPECT_EQ(value("fd.name", *relative), "/home/user/notes/a.txt");
  EXPECT_EQ(value("fd.nameraw", *relative), "../user/./notes//a.txt");
  EXPECT_EQ(value("fd.directory", *relative), "/home/user/notes");
  EXPECT_EQ(value("fd.filename", *relative), "a.txt");
  EXPECT_EQ(value("fd.typechar", *relative), "f");
  EXPECT_EQ(value("fd.type", *relative), "file");
  EXPECT_EQ(value("fd.num", *relative), "5");
  // A directory fd the process opened earlier anchors an *at path.
  world.table->apply(*decoded(test::file_record(VIGIL_NR_openat, 100, "/var/lib", 7, O_DIRECTORY)));
  auto at = test::file_record(VIGIL_NR_openat, 100, "dpkg/status", 8);
  at.dirfd = 7;
  EXPECT_EQ(value("fd.name", *decoded(at)), "/var/lib/dpkg/status");
  auto root_file = decoded(test::file_record(VIGIL_NR_open, 100, "/../x", 3));
  EXPECT_EQ(value("fd.name", *root_file), "/x");
  EXPECT_EQ(value("fd.directory", *root_file), "/");
  auto directory = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc", 3, O_DIRECTORY | O_RDONLY));
  EXPECT_EQ(value("fd.typechar", *directory), "d");
  // creat is a writable open.
  auto creat = decoded(test::file_record(VIGIL_NR_creat, 100, "/tmp/new", 3));
  EXPECT_EQ(value("evt.is_open_write", *creat), "true");
}

// `cd /etc` inside the process, then open("shadow"): the table follows the chdir, so fd.name
// is /etc/shadow and a rule on it matches; chdir and fchdir carry Falco's arguments.
TEST_F(RulesFields, RelativeOpensFollowChdir) {
  auto chdir = decoded(test::file_record(VIGIL_NR_chdir, 100, "/etc", 0));
  EXPECT_EQ(value("evt.type", *chdir), "chdir");
  EXPECT_EQ(value("evt.arg.path", *chdir), "/etc");
  EXPECT_EQ(value("evt.arg.res", *chdir), "0");
  world.table->apply(*chdir);
  EXPECT_EQ(value("proc.cwd", *chdir), "/etc");
  auto shadow = decoded(test::file_record(VIGIL_NR_openat, 100, "shadow", 4));
  EXPECT_EQ(value("fd.name", *shadow), "/etc/shadow");
  EXPECT_TRUE(holds("evt.type = openat and fd.name in (/etc/shadow, /etc/sudoers)", *shadow));
  world.table->apply(*shadow);
  auto fchdir = test::file_record(VIGIL_NR_fchdir, 100, "", 0);
  fchdir.fd = 4;
  fchdir.path_size = 0;
  auto fchdir_event = decoded(fchdir);
  EXPECT_EQ(value("evt.type", *fchdir_event), "fchdir");
  EXPECT_EQ(value("evt.arg.fd", *fchdir_event), "4");
  EXPECT_EQ(value("fd.name", *fchdir_event), "/etc/shadow");
}

TEST_F(RulesFields, Sockets) {
  auto socket = test::net_record(VIGIL_NR_socket, 100, -1, 4, "bash");
  socket.domain = AF_INET;
  socket.type = SOCK_STREAM;
  auto socket_event = decoded(socket);
  EXPECT_EQ(value("fd.typechar", *socket_event), "4");
  EXPECT_EQ(value("fd.l4proto", *socket_event), "tcp");
  EXPECT_EQ(value("evt.arg.domain", *socket_event), "AF_INET");
  EXPECT_EQ(value("evt.arg[0]", *socket_event), "AF_INET");
  EXPECT_EQ(value("evt.arg.type", *socket_event), "SOCK_STREAM");
  world.table->apply(*socket_event);

  auto connect = test::net_record(VIGIL_NR_connect, 100, 4, 0, "bash");
  test::set_v4(connect.local, 10, 0, 0, 5, 45000);
  test::set_v4(connect.remote, 93, 184, 216, 34, 443);
  auto connect_event = decoded(connect);
  EXPECT_EQ(value("fd.name", *connect_event), "10.0.0.5:45000->93.184.216.34:443");
  EXPECT_EQ(value("fd.sip", *connect_event), "93.184.216.34");
  EXPECT_EQ(value("fd.dip", *connect_event), "93.184.216.34");
  EXPECT_EQ(value("fd.cip", *connect_event), "10.0.0.5");
  EXPECT_EQ(value("fd.lip", *connect_event), "10.0.0.5");
  EXPECT_EQ(value("fd.rip", *connect_event), "93.184.216.34");
  EXPECT_EQ(value("fd.sport", *connect_event), "443");
  EXPECT_EQ(value("fd.dport", *connect_event), "443");
  EXPECT_EQ(value("fd.cport", *connect_event), "45000");
  EXPECT_EQ(value("fd.lport", *connect_event), "45000");
  EXPECT_EQ(value("fd.rport", *connect_event), "443");
  EXPECT_EQ(value("fd.num", *connect_event), "4");
  EXPECT_EQ(value("fd.type", *connect_event), "ipv4");
  EXPECT_EQ(value("fd.sockfamily", *connect_event), "ip");
  EXPECT_EQ(value("fd.l4proto", *connect_event), "tcp");
  EXPECT_EQ(value("fd.connected", *connect_event), "true");
  EXPECT_EQ(value("evt.arg.tuple", *connect_event), "10.0.0.5:45000->93.184.216.34:443");
  EXPECT_EQ(value("evt.arg.addr", *connect_event), "93.184.216.34:443");
  EXPECT_TRUE(holds("fd.sip = 93.184.216.34 and fd.snet = \"93.184.0.0/16\" and fd.ip = 10.0.0.5", *connect_event));
  EXPECT_TRUE(holds("fd.net in (\"10.0.0.0/8\") and fd.port = 443", *connect_event));
  EXPECT_FALSE(holds("fd.sip in (\"10.0.0.0/8\", \"192.168.0.0/16\")", *connect_event));
  world.table->apply(*connect_event);

  // Reverse shell: dup2(4, 0) copies the socket onto stdin.
  auto dup = decoded(test::proc_record(VIGIL_NR_dup2, 100, 0, {4, 0}, "bash"));
  EXPECT_EQ(value("fd.num", *dup), "0");
  EXPECT_EQ(value("fd.type", *dup), "ipv4");
  EXPECT_EQ(value("fd.name", *dup), "10.0.0.5:45000->93.184.216.34:443");
  EXPECT_EQ(value("evt.arg.oldfd", *dup), "4");
  EXPECT_EQ(value("evt.arg.newfd", *dup), "0");

  auto accept = test::net_record(VIGIL_NR_accept4, 100, 4, 9, "sshd");
  test::set_v4(accept.local, 10, 0, 0, 5, 22);
  test::set_v4(accept.remote, 192, 168, 1, 9, 50000);
  auto accept_event = decoded(accept);
  EXPECT_EQ(value("fd.name", *accept_event), "192.168.1.9:50000->10.0.0.5:22");
  EXPECT_EQ(value("fd.sport", *accept_event), "22");
  EXPECT_EQ(value("fd.cip", *accept_event), "192.168.1.9");
  EXPECT_EQ(value("fd.num", *accept_event), "9");

  auto close = decoded(test::proc_record(VIGIL_NR_close, 100, 0, {4}, "bash"));
  EXPECT_EQ(value("fd.name", *close), "10.0.0.5:45000->93.184.216.34:443");
}

TEST_F(RulesFields, ArgumentsOfOtherCalls) {
  auto ptrace = decoded(test::proc_record(VIGIL_NR_ptrace, 100, 0, {16, 300}, "gdb"));
  EXPECT_EQ(value("evt.arg.request", *ptrace), "PTRACE_ATTACH");
  EXPECT_EQ(value("evt.arg.pid", *ptrace), "300");
  auto kill = decoded(test::proc_record(VIGIL_NR_kill, 100, 0, {300, 9}, "bash"));
  EXPECT_EQ(value("evt.arg.sig", *kill), "SIGKILL");
  auto memfd = decoded(test::make_memfd(100, "payload", 5));
  EXPECT_EQ(value("evt.arg.name", *memfd), "payload");
  EXPECT_EQ(value("evt.arg.flags", *memfd), "MFD_CLOEXEC");
  EXPECT_EQ(value("fd.name", *memfd), "memfd:payload");
  auto setuid = decoded(test::make_setuid(100, 1000, 0));
  EXPECT_EQ(value("evt.arg.uid", *setuid), "0");
  EXPECT_EQ(value("user.uid", *setuid), "0");

  auto rename = test::file_record(VIGIL_NR_renameat2, 100, "/tmp/a", 0);
  test::set_path2(rename, "/usr/bin/a");
  rename.at_flags = 1;
  auto rename_event = decoded(rename);
  EXPECT_EQ(value("evt.arg.oldpath", *rename_event), "/tmp/a");
  EXPECT_EQ(value("evt.arg.newpath", *rename_event), "/usr/bin/a");
  EXPECT_EQ(value("evt.arg.flags", *rename_event), "RENAME_NOREPLACE");
  EXPECT_EQ(value("fd.name", *rename_event), "<NA>");

  auto unlink = test::file_record(VIGIL_NR_unlinkat, 100, "/var/log/auth.log", 0);
  unlink.at_flags = 0x200;
  EXPECT_EQ(value("evt.arg.flags", *decoded(unlink)), "AT_REMOVEDIR");
  auto chmod = test::file_record(VIGIL_NR_fchmodat, 100, "/tmp/x", 0);
  chmod.mode = 04755;
  EXPECT_EQ(value("evt.arg.mode", *decoded(chmod)), "S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH");
  auto mount = test::file_record(VIGIL_NR_mount, 100, "/dev/sda1", 0);
  test::set_path2(mount, "/mnt");
  mount.open_flags = 1;  // MS_RDONLY
  std::memcpy(mount.fstype, "ext4", 4);
  auto mount_event = decoded(mount);
  EXPECT_EQ(value("evt.arg.dev", *mount_event), "/dev/sda1");
  EXPECT_EQ(value("evt.arg.dir", *mount_event), "/mnt");
  EXPECT_EQ(value("evt.arg.type", *mount_event), "ext4");
  EXPECT_EQ(value("evt.arg.flags", *mount_event), "MS_RDONLY");
}

TEST_F(RulesFields, ExecEventsUseTheirOwnArguments) {
  auto exec = decoded(test::make_execve_syscall(100, "/usr/bin/curl", 0, {"curl", "-o", "/tmp/x", "http://e"}));
  EXPECT_EQ(value("proc.exe", *exec), "curl");
  EXPECT_EQ(value("proc.args", *exec), "-o /tmp/x http://e");
  EXPECT_EQ(value("proc.cmdline", *exec), "sh -o /tmp/x http://e");  // comm is the header's ("sh")
  EXPECT_EQ(value("evt.arg.filename", *exec), "/usr/bin/curl");
  EXPECT_EQ(value("evt.arg.args", *exec), "-o /tmp/x http://e");
  // A memfd executed: the kernel names the executable "/memfd:NAME (deleted)".
  world.table->apply(*decoded(test::make_exec(100, "/memfd:payload (deleted)", {"x"})));
  auto after = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc/hosts", 3, O_RDONLY, "x"));
  EXPECT_EQ(value("proc.is_exe_from_memfd", *after), "true");
  EXPECT_EQ(value("proc.exepath", *after), "/memfd:payload (deleted)");
  EXPECT_EQ(value("proc.is_exe_upper_layer", *after), "false");
}

// The probe flags an executable in an overlayfs upper layer (written in the container); the
// process keeps the flag, its children inherit it, and the next exec decides again.
TEST_F(RulesFields, ExeInTheUpperLayer) {
  auto dropped = test::make_exec(100, "/tmp/dropped", {"dropped"});
  dropped.flags = VIGIL_EXEC_EXE_UPPER_LAYER;
  auto exec = decoded(dropped);
  ASSERT_TRUE(exec->exec()->exe_upper_layer);
  world.table->apply(*exec);
  EXPECT_EQ(value("proc.is_exe_upper_layer", *exec), "true");
  EXPECT_TRUE(holds("evt.type = procexec and proc.is_exe_upper_layer = true", *exec));
  world.table->apply(*decoded(test::make_fork(100, 101)));
  auto child = decoded(test::file_record(VIGIL_NR_openat, 101, "/etc/hosts", 3));
  EXPECT_EQ(value("proc.is_exe_upper_layer", *child), "true") << "inherited at fork";
  auto again = decoded(test::make_exec(100, "/bin/true", {"true"}));
  world.table->apply(*again);
  EXPECT_EQ(value("proc.is_exe_upper_layer", *again), "false");
}

}  // namespace

namespace {

// The connecting and the accepting ends of connections, as fd.is_server and proc.std*.* see them
// once they are on stdin and stdout.
TEST_F(RulesFields, ConnectionEndsAndStdio) {
  auto connect = test::net_record(VIGIL_NR_connect, 100, 4, 0, "bash");
  test::set_v4(connect.local, 10, 0, 0, 5, 45000);
  test::set_v4(connect.remote, 93, 184, 216, 34, 4444);
  auto connect_event = decoded(connect);
  EXPECT_EQ(value("fd.is_server", *connect_event), "false");
  world.table->apply(*connect_event);
  for (const std::uint64_t fd : {0, 1}) {
    auto dup = decoded(test::proc_record(VIGIL_NR_dup2, 100, static_cast<std::int64_t>(fd), {4, fd}, "bash"));
    EXPECT_EQ(value("fd.is_server", *dup), "false");
    world.table->apply(*dup);
  }
  auto later = decoded(test::file_record(VIGIL_NR_openat, 100, "/tmp/x", 5));
  EXPECT_EQ(value("proc.stdin.type", *later), "ipv4");
  EXPECT_EQ(value("proc.stdout.name", *later), "10.0.0.5:45000->93.184.216.34:4444");
  EXPECT_EQ(value("proc.stdin.is_server", *later), "false");
  EXPECT_EQ(value("proc.stderr.type", *later), "<NA>") << "nothing known of fd 2";
  EXPECT_EQ(value("fd.name", *later), "/tmp/x") << "the event's own descriptor is untouched";

  auto accept = test::net_record(VIGIL_NR_accept4, 200, 3, 7, "sudo");
  test::set_v4(accept.local, 10, 0, 0, 5, 22);
  test::set_v4(accept.remote, 192, 168, 1, 9, 50000);
  auto accept_event = decoded(accept);
  EXPECT_EQ(value("fd.is_server", *accept_event), "true");
  world.table->apply(*accept_event);
  auto handed = decoded(test::proc_record(VIGIL_NR_dup2, 200, 0, {7, 0}, "sudo"));
  EXPECT_EQ(value("fd.is_server", *handed), "true");
  // A descriptor the table never saw made: the kernel's fd_kind says what it is, not its end.
  auto unknown = test::proc_record(VIGIL_NR_dup2, 200, 1, {9, 1}, "sudo");
  unknown.fd_kind = S_IFSOCK | (AF_INET6 << 16);
  auto unknown_event = decoded(unknown);
  EXPECT_EQ(value("fd.type", *unknown_event), "ipv6");
  EXPECT_EQ(value("fd.is_server", *unknown_event), "<NA>");
}

// proc.name is what the process was named at exec; proc.comm what it calls itself now.
TEST_F(RulesFields, NameAtExecAndLiveComm) {
  auto renamed = decoded(test::file_record(VIGIL_NR_openat, 200, "/etc/shadow", 3, O_RDONLY, "sshd"));
  EXPECT_EQ(value("proc.name", *renamed), "sudo");
  EXPECT_EQ(value("proc.comm", *renamed), "sshd");
  EXPECT_EQ(value("proc.cmdline", *renamed), "sudo -i");
  EXPECT_EQ(value("proc.aname[0]", *renamed), "sudo");
  auto stranger = decoded(test::file_record(VIGIL_NR_openat, 4242, "/etc/shadow", 3, O_RDONLY, "sshd"));
  EXPECT_EQ(value("proc.name", *stranger), "sshd") << "a process the table does not know: the header's";
}

// What the container runtime says about a container (docker's files here), as Falco's rules ask.
TEST_F(RulesFields, ContainerAndKubernetesFields) {
  const std::string dir = world.tree.proc() + "/../docker/" + test::RulesWorld::kContainerId;
  std::filesystem::create_directories(dir);
  test::write_text(dir + "/config.v2.json", R"({
    "Name": "/web", "Image": "sha256:6f7e2741b66b", "Created": "2026-01-01T00:00:00Z",
    "Config": {"Image": "docker.io/library/nginx:1.25", "Labels": {"app": "web"}},
    "MountPoints": {"/var/run/docker.sock": {"Source": "/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": true, "Mode": ""},
                    "/host/proc": {"Source": "/proc", "Destination": "/host/proc", "RW": false, "Mode": "ro"}}})");
  test::write_text(dir + "/hostconfig.json", R"({"Privileged": true})");
  ASSERT_TRUE(world.table->seed());  // resolved again: the metadata is there now
  auto event = decoded(test::proc_record(VIGIL_NR_finit_module, 300, 0, {5, 0, 0}, "nginx"));
  EXPECT_EQ(value("container.id", *event), "feedfacecafe");
  EXPECT_EQ(value("container.full_id", *event), test::RulesWorld::kContainerId);
  EXPECT_EQ(value("container.name", *event), "web");
  EXPECT_EQ(value("container.type", *event), "docker");
  EXPECT_EQ(value("container.image", *event), "docker.io/library/nginx:1.25");
  EXPECT_EQ(value("container.image.repository", *event), "docker.io/library/nginx");
  EXPECT_EQ(value("container.image.tag", *event), "1.25");
  EXPECT_EQ(value("container.image.id", *event), "sha256:6f7e2741b66b");
  EXPECT_EQ(value("container.privileged", *event), "true");
  EXPECT_EQ(value("container.label[app]", *event), "web");
  EXPECT_EQ(value("container.start_ts", *event), "1767225600000000000");
  EXPECT_EQ(value("container.mount.dest[/proc*]", *event), "/host/proc") << "by source, a glob";
  EXPECT_EQ(value("container.mount.source[/var/run/docker.sock]", *event), "/run/docker.sock") << "by destination";
  EXPECT_EQ(value("container.mount.rdwr[/proc]", *event), "false");
  EXPECT_EQ(value("container.mount.dest[/etc*]", *event), "<NA>");
  EXPECT_EQ(value("container.mount[/nothing]", *event), "none");
  EXPECT_EQ(value("container.mounts", *event), "/proc:/host/proc:ro:false:,/run/docker.sock:/var/run/docker.sock:rw:true:");
  // Falco's sensitive_mount macro reads as Falco means it.
  EXPECT_TRUE(holds("container.mount.dest[/proc*] != \"N/A\"", *event));
  EXPECT_FALSE(holds("container.mount.dest[/etc*] != \"N/A\"", *event));
  // No pod annotations from docker; and nothing of this on the host.
  EXPECT_EQ(value("k8s.pod.name", *event), "<NA>");
  auto host = decoded(test::file_record(VIGIL_NR_openat, 100, "/x", 3));
  EXPECT_EQ(value("container.image", *host), "<NA>");
  EXPECT_EQ(value("container.privileged", *host), "<NA>");
  EXPECT_EQ(value("container.type", *host), "host");
  EXPECT_EQ(value("container.full_id", *host), "host");
  // A key argument is required.
  rules::LoadReport report;
  (void)test::load_rules(test::one_rule("container.mount.dest = x"), report);
  EXPECT_FALSE(report.ok());
}

}  // namespace
