// decode_record on hand-built records of every type: valid ones decode to the right fields, and
// every way a record can lie (short, sizes, lengths, missing NULs, foreign syscall numbers) is
// rejected with the field and offset that lied.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "events/event.h"
#include "unit/events_test_records.h"

namespace {

using vigil::events::decode;
using vigil::events::decode_record;
using vigil::events::DecodeError;
using vigil::events::DecodeErrorReason;
using vigil::events::Event;
using vigil::events::EventType;
using vigil::test::record_bytes;

DecodeError expect_error(const std::vector<std::uint8_t>& bytes) {
  auto event = decode_record(bytes);
  EXPECT_FALSE(event.has_value()) << "decoded as " << vigil::events::event_type_name(event->type);
  return event ? DecodeError{} : event.error();
}

std::vector<std::string> args_of(const vigil::events::ExecPayload& exec) {
  return {exec.args.begin(), exec.args.end()};
}

TEST(EventsDecoder, ExecRecord) {
  const auto bytes = record_bytes(vigil::test::make_exec(4242, "/usr/bin/ls", {"ls", "-l", "", "/tmp"}));
  auto event = decode_record(bytes);
  ASSERT_TRUE(event) << vigil::events::describe(event.error());
  EXPECT_EQ(event->type, EventType::procexec);
  EXPECT_EQ(event->record_type, VIGIL_EVENT_EXEC);
  EXPECT_EQ(event->task.pid, 4242u);
  EXPECT_EQ(event->task.tid, 4243u);
  EXPECT_EQ(event->task.ppid, 1u);
  EXPECT_EQ(event->task.uid, 1000u);
  EXPECT_EQ(event->task.gid, 1001u);
  EXPECT_EQ(event->task.cgroup_id, 4242u);
  EXPECT_EQ(event->task.timestamp_ns, 5'000'000'042u);
  EXPECT_EQ(event->task.comm, "ls");
  EXPECT_EQ(event->syscall.nr, -1);
  const auto* exec = event->exec();
  ASSERT_NE(exec, nullptr);
  EXPECT_EQ(exec->filename, "/usr/bin/ls");
  EXPECT_EQ(args_of(*exec), (std::vector<std::string>{"ls", "-l", "", "/tmp"}));
  EXPECT_EQ(exec->args.size(), 4u);
  EXPECT_EQ(exec->argc, 4u);
  EXPECT_EQ(exec->exe_ino, 123456u);
  EXPECT_EQ(exec->exe_dev, 0x803u);
  EXPECT_FALSE(exec->args_truncated);
  EXPECT_EQ(event->fork(), nullptr);
}

// The kernel's facts about the new program: assembled paths, credentials, pids in its
// namespace, stdio; untrusted sizes and unterminated component lists are refused.
TEST(EventsDecoder, ExecRecordKernelFacts) {
  auto exec = vigil::test::make_exec(4242, "./x", {"x"});
  const std::string path = std::string("x\0bin\0opt\0", 10);
  std::memcpy(exec.exe_path, path.data(), path.size());
  exec.exe_path_size = static_cast<__u32>(path.size());
  exec.cwd_size = 0;  // "/"
  exec.flags = VIGIL_EXEC_KERNEL_FACTS | VIGIL_EXEC_EXE_UNLINKED | VIGIL_EXEC_EXE_MEMFD;
  exec.creds.euid = 0;
  exec.creds.uid = 1000;
  exec.vpid = 1;
  exec.vpgid = 1;
  exec.vsid = 1;
  exec.loginuid = 7;
  exec.stdio_kind[2] = 0140777 | (10u << 16);
  exec.exe_ctime_ns = 42;
  const auto bytes = record_bytes(exec);
  auto event = decode_record(bytes);
  ASSERT_TRUE(event) << vigil::events::describe(event.error());
  const auto* payload = event->exec();
  ASSERT_NE(payload, nullptr);
  ASSERT_TRUE(payload->has_kernel_facts);
  const auto& kernel = payload->kernel;
  std::string assembled;
  vigil::events::append_kernel_path(kernel.exe_path, kernel.exe_unlinked, assembled);
  EXPECT_EQ(assembled, "/opt/bin/x (deleted)");
  assembled.clear();
  vigil::events::append_kernel_path(kernel.cwd, false, assembled);
  EXPECT_EQ(assembled, "/");
  EXPECT_TRUE(kernel.exe_memfd);
  EXPECT_EQ(kernel.creds.uid, 1000u);
  EXPECT_EQ(kernel.creds.euid, 0u);
  EXPECT_EQ(kernel.vpid, 1u);
  EXPECT_EQ(kernel.loginuid, 7u);
  EXPECT_EQ(kernel.stdio_kind[2], 0140777u | (10u << 16));
  EXPECT_EQ(kernel.exe_ctime_ns, 42u);

  // Without the flag the tail means nothing (a zeroed record: not "root, uid 0").
  exec.flags = 0;
  auto without = decode_record(record_bytes(exec));
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->exec()->has_kernel_facts);

  exec.exe_path_size = VIGIL_EXEC_PATH_MAX + 1;
  auto too_long = decode_record(record_bytes(exec));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().reason, vigil::events::DecodeErrorReason::length_out_of_range);
  EXPECT_EQ(too_long.error().field, "exec.exe_path_size");
  exec.exe_path_size = 3;  // "x\0b": the last name lacks its NUL
  auto unterminated = decode_record(record_bytes(exec));
  ASSERT_FALSE(unterminated);
  EXPECT_EQ(unterminated.error().reason, vigil::events::DecodeErrorReason::unterminated_string);
}

TEST(EventsDecoder, KernelPathsAssembleWhateverTheBytes) {
  const auto path = [](std::string_view components) {
    std::string out;
    vigil::events::append_kernel_path(components, false, out);
    return out;
  };
  EXPECT_EQ(path(std::string_view("true\0bin\0usr\0", 13)), "/usr/bin/true");
  EXPECT_EQ(path(""), "/");
  EXPECT_EQ(path(std::string_view("a\0\0b\0", 5)), "/b//a") << "an empty name stays empty";
  EXPECT_EQ(path(std::string_view("\0a\0", 3)), "/a/");
  EXPECT_EQ(path("no-terminator"), "/no-terminator");
}

TEST(EventsDecoder, ViewsPointIntoTheRecord) {
  const auto bytes = record_bytes(vigil::test::make_exec(1, "/bin/true", {"true"}));
  auto event = decode_record(bytes);
  ASSERT_TRUE(event);
  const auto* begin = reinterpret_cast<const char*>(bytes.data());
  EXPECT_GE(event->exec()->filename.data(), begin);
  EXPECT_LT(event->exec()->filename.data(), begin + bytes.size());
  EXPECT_EQ(event->task.comm.data(), begin + offsetof(vigil_event_header, comm));
}

TEST(EventsDecoder, TruncatedArgumentAreaKeepsItsLastStringWithoutNul) {
  auto exec = vigil::test::make_exec(7, "/bin/echo", {});
  const std::string area = std::string("echo") + '\0' + "abc";  // the last string lost its NUL
  std::memcpy(exec.args, area.data(), area.size());
  exec.args_size = static_cast<std::uint32_t>(area.size());
  exec.argc = 3;
  exec.flags = VIGIL_EXEC_ARGS_TRUNCATED;
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(exec));
  ASSERT_TRUE(event);
  EXPECT_EQ(args_of(*event->exec()), (std::vector<std::string>{"echo", "abc"}));
  EXPECT_TRUE(event->exec()->args_truncated);
  EXPECT_EQ(event->exec()->argc, 3u);
  EXPECT_FALSE(event->exec()->exe_upper_layer);
}

TEST(EventsDecoder, UpperLayerFlag) {
  auto exec = vigil::test::make_exec(7, "/bin/echo", {"echo"});
  exec.flags = VIGIL_EXEC_EXE_UPPER_LAYER;
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(exec));
  ASSERT_TRUE(event);
  EXPECT_TRUE(event->exec()->exe_upper_layer);
  EXPECT_FALSE(event->exec()->args_truncated);
}

TEST(EventsDecoder, ForkAndExitRecords) {
  auto fork = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_fork(100, 200)));
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->type, EventType::fork);
  ASSERT_NE(fork->fork(), nullptr);
  EXPECT_EQ(fork->fork()->child_pid, 200u);
  EXPECT_EQ(fork->task.comm, "bash");

  auto exited = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_exit(200, 3 << 8)));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->type, EventType::procexit);
  EXPECT_TRUE(exited->exit()->exited());
  EXPECT_EQ(exited->exit()->exit_code(), 3);

  auto killed = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_exit(200, 9 | 0x80)));
  ASSERT_TRUE(killed);
  EXPECT_TRUE(killed->exit()->signaled());
  EXPECT_EQ(killed->exit()->term_signal(), 9);
  EXPECT_TRUE(killed->exit()->core_dumped());
}

TEST(EventsDecoder, FileSyscallRecord) {
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_openat(50, "/etc/shadow", 3)));
  ASSERT_TRUE(event) << vigil::events::describe(event.error());
  EXPECT_EQ(event->type, EventType::openat);
  EXPECT_EQ(event->syscall.nr, VIGIL_NR_openat);
  EXPECT_EQ(event->syscall.ret, 3);
  const auto* file = event->file();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->path, "/etc/shadow");
  EXPECT_EQ(file->path2, "");
  EXPECT_EQ(file->fd, 3);
  EXPECT_EQ(file->dirfd, -100);
  EXPECT_EQ(file->open_flags, 0x80000u);
  EXPECT_EQ(file->ino, 777u);
}

TEST(EventsDecoder, NetSyscallRecord) {
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_connect_v4(60, 5, 10, 1, 2, 3, 443)));
  ASSERT_TRUE(event) << vigil::events::describe(event.error());
  EXPECT_EQ(event->type, EventType::connect);
  const auto* net = event->net();
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->fd, 5);
  EXPECT_EQ(net->remote.family, 2);
  EXPECT_EQ(net->remote.port, 443);
  ASSERT_EQ(net->remote.addr.size(), 4u);
  EXPECT_EQ(net->remote.addr[0], 10);
  EXPECT_EQ(net->remote.addr[3], 3);
  EXPECT_EQ(net->local.family, 0);
  EXPECT_TRUE(net->local.addr.empty());
}

TEST(EventsDecoder, UnixSocketPaths) {
  auto record = vigil::test::make_connect_v4(60, 5, 0, 0, 0, 0, 0);
  record.remote = {};
  record.remote.family = 1;  // AF_UNIX
  const std::string path = "/run/docker.sock";
  std::memcpy(record.remote.unix_path, path.c_str(), path.size() + 1);
  record.remote.unix_path_size = static_cast<std::uint32_t>(path.size() + 1);
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(record));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->net()->remote.unix_path, path);

  // Abstract names start with NUL and are binary: every valid byte is kept.
  record.remote = {};
  record.remote.family = 1;
  const char abstract[] = {'\0', 'x', '\0', 'y'};
  std::memcpy(record.remote.unix_path, abstract, sizeof abstract);
  record.remote.unix_path_size = sizeof abstract;
  event = vigil::test::DecodedRecord(vigil::test::record_bytes(record));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->net()->remote.unix_path, std::string_view(abstract, sizeof abstract));

  record.remote.unix_path_size = VIGIL_SOCKADDR_UNIX_MAX + 1;
  const DecodeError error = expect_error(record_bytes(record));
  EXPECT_EQ(error.reason, DecodeErrorReason::length_out_of_range);
  EXPECT_EQ(error.field, "net.remote.unix_path_size");
  EXPECT_EQ(error.offset, offsetof(vigil_syscall_net_event, remote) + offsetof(vigil_sockaddr, unix_path_size));
}

TEST(EventsDecoder, CredSyscallRecord) {
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_setuid(70, 1000, 0)));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->type, EventType::setuid);
  ASSERT_NE(event->cred(), nullptr);
  EXPECT_EQ(event->cred()->old_creds.euid, 1000u);
  EXPECT_EQ(event->cred()->new_creds.euid, 0u);
  EXPECT_EQ(event->cred()->id_args[0], 0u);
}

TEST(EventsDecoder, ProcSyscallRecord) {
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_memfd(80, "payload", 4)));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->type, EventType::memfd_create);
  ASSERT_NE(event->proc(), nullptr);
  EXPECT_EQ(event->proc()->str, "payload");
  EXPECT_EQ(event->proc()->args[1], 1u);
  EXPECT_EQ(event->syscall.ret, 4);
}

TEST(EventsDecoder, ExecSyscallRecordIncludingFailures) {
  auto event = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_execve_syscall(90, "/nonexistent", -2, {"x", "y"})));
  ASSERT_TRUE(event) << vigil::events::describe(event.error());
  EXPECT_EQ(event->type, EventType::execve);
  EXPECT_EQ(event->syscall.ret, -2);
  ASSERT_NE(event->exec(), nullptr);
  EXPECT_EQ(event->exec()->filename, "/nonexistent");
  EXPECT_EQ(args_of(*event->exec()), (std::vector<std::string>{"x", "y"}));

  auto no_filename = vigil::test::make_execve_syscall(90, "", -14, {});
  no_filename.filename_size = 0;  // unreadable pathname: allowed for syscall records
  event = vigil::test::DecodedRecord(vigil::test::record_bytes(no_filename));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->exec()->filename, "");
}

TEST(EventsDecoder, ShortRecords) {
  EXPECT_EQ(expect_error({}).reason, DecodeErrorReason::short_record);
  const auto full = record_bytes(vigil::test::make_fork(1, 2));
  const DecodeError error = expect_error(std::vector<std::uint8_t>(full.begin(), full.begin() + 79));
  EXPECT_EQ(error.reason, DecodeErrorReason::short_record);
  EXPECT_EQ(error.value, 79u);
  EXPECT_EQ(error.limit, sizeof(vigil_event_header));
}

TEST(EventsDecoder, EveryPrefixOfEveryRecordTypeIsRejected) {
  const std::vector<std::vector<std::uint8_t>> records = {
      record_bytes(vigil::test::make_exec(1, "/bin/sh", {"sh"})),
      record_bytes(vigil::test::make_fork(1, 2)),
      record_bytes(vigil::test::make_exit(1, 0)),
      record_bytes(vigil::test::make_openat(1, "/x", 3)),
      record_bytes(vigil::test::make_connect_v4(1, 3, 1, 2, 3, 4, 80)),
      record_bytes(vigil::test::make_setuid(1, 0, 1)),
      record_bytes(vigil::test::make_memfd(1, "m", 3)),
      record_bytes(vigil::test::make_execve_syscall(1, "/bin/sh", 0, {"sh"})),
  };
  for (const auto& record : records) {
    ASSERT_TRUE(decode_record(record));
    for (std::size_t length = 0; length < record.size(); ++length) {
      const std::vector<std::uint8_t> prefix(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(length));
      auto event = decode_record(prefix);
      ASSERT_FALSE(event) << "prefix of " << length << " bytes decoded";
      EXPECT_TRUE(event.error().reason == DecodeErrorReason::short_record) << vigil::events::describe(event.error());
    }
  }
}

TEST(EventsDecoder, HeaderSizeMustMatchTheRecord) {
  auto fork = vigil::test::make_fork(1, 2);
  fork.header.size = 4096;  // claims more than there is
  DecodeError error = expect_error(record_bytes(fork));
  EXPECT_EQ(error.reason, DecodeErrorReason::short_record);
  EXPECT_EQ(error.field, "header.size");
  EXPECT_EQ(error.offset, 12u);
  EXPECT_EQ(error.value, 4096u);

  fork.header.size = 80;  // claims less
  error = expect_error(record_bytes(fork));
  EXPECT_EQ(error.reason, DecodeErrorReason::size_mismatch);
  EXPECT_EQ(error.value, 80u);
  EXPECT_EQ(error.limit, sizeof(vigil_fork_event));
}

TEST(EventsDecoder, RecordSizeMustMatchItsType) {
  // A fork header on an exit-sized... a type whose layout has another size: exec header, fork size.
  auto fork = vigil::test::make_fork(1, 2);
  fork.header.type = VIGIL_EVENT_EXEC;
  const DecodeError error = expect_error(record_bytes(fork));
  EXPECT_EQ(error.reason, DecodeErrorReason::wrong_record_size);
  EXPECT_EQ(error.value, sizeof(vigil_fork_event));
  EXPECT_EQ(error.limit, sizeof(vigil_exec_event));
}

TEST(EventsDecoder, UnknownRecordType) {
  auto fork = vigil::test::make_fork(1, 2);
  for (std::uint32_t type : {0u, 9u, 0xffffffffu}) {
    fork.header.type = type;
    const DecodeError error = expect_error(record_bytes(fork));
    EXPECT_EQ(error.reason, DecodeErrorReason::unknown_record_type);
    EXPECT_EQ(error.offset, 8u);
    EXPECT_EQ(error.value, type);
  }
}

TEST(EventsDecoder, LyingExecLengths) {
  auto exec = vigil::test::make_exec(1, "/bin/sh", {"sh"});
  exec.args_size = VIGIL_EXEC_ARGS_MAX + 1;
  DecodeError error = expect_error(record_bytes(exec));
  EXPECT_EQ(error.reason, DecodeErrorReason::length_out_of_range);
  EXPECT_EQ(error.field, "exec.args_size");
  EXPECT_EQ(error.offset, 96u);
  EXPECT_EQ(error.value, VIGIL_EXEC_ARGS_MAX + 1u);
  EXPECT_EQ(error.limit, VIGIL_EXEC_ARGS_MAX);
  EXPECT_EQ(vigil::events::describe(error), "exec record: exec.args_size at offset 96 is 1025, exceeds 1024");

  exec = vigil::test::make_exec(1, "/bin/sh", {"sh"});
  exec.filename_size = 0xffffffffu;
  error = expect_error(record_bytes(exec));
  EXPECT_EQ(error.reason, DecodeErrorReason::length_out_of_range);
  EXPECT_EQ(error.field, "exec.filename_size");
  EXPECT_EQ(error.offset, 100u);

  auto syscall_exec = vigil::test::make_execve_syscall(1, "/bin/sh", 0, {});
  syscall_exec.args_size = 5000;
  error = expect_error(record_bytes(syscall_exec));
  EXPECT_EQ(error.field, "syscall_exec.args_size");
  EXPECT_EQ(error.offset, offsetof(vigil_syscall_exec_event, args_size));
}

TEST(EventsDecoder, UnterminatedStrings) {
  auto exec = vigil::test::make_exec(1, "/bin/sh", {"sh"});
  exec.filename_size = 3;  // "/bi" without its NUL
  DecodeError error = expect_error(record_bytes(exec));
  EXPECT_EQ(error.reason, DecodeErrorReason::unterminated_string);
  EXPECT_EQ(error.field, "exec.filename");
  EXPECT_EQ(error.offset, 112u);

  exec = vigil::test::make_exec(1, "/bin/sh", {"sh"});
  exec.filename_size = 0;  // the lifecycle record always has a filename
  EXPECT_EQ(expect_error(record_bytes(exec)).field, "exec.filename");

  auto fork = vigil::test::make_fork(1, 2);
  std::memset(fork.header.comm, 'A', sizeof fork.header.comm);
  error = expect_error(record_bytes(fork));
  EXPECT_EQ(error.reason, DecodeErrorReason::unterminated_string);
  EXPECT_EQ(error.field, "header.comm");
  EXPECT_EQ(error.offset, 60u);

  auto file = vigil::test::make_openat(1, "/etc/passwd", 3);
  file.path_size = 4;
  error = expect_error(record_bytes(file));
  EXPECT_EQ(error.field, "file.path");
  EXPECT_EQ(error.offset, offsetof(vigil_syscall_file_event, path));

  file = vigil::test::make_openat(1, "/etc/passwd", 3);
  std::memset(file.fstype, 'x', sizeof file.fstype);
  EXPECT_EQ(expect_error(record_bytes(file)).field, "file.fstype");

  auto proc = vigil::test::make_memfd(1, "name", 3);
  proc.str_size = VIGIL_SYSCALL_STR_MAX + 1;
  error = expect_error(record_bytes(proc));
  EXPECT_EQ(error.reason, DecodeErrorReason::length_out_of_range);
  EXPECT_EQ(error.field, "proc.str_size");
}

TEST(EventsDecoder, SyscallNumberMustBelongToTheRecordType) {
  auto file = vigil::test::make_openat(1, "/x", 3);
  file.sc.syscall_nr = VIGIL_NR_connect;  // a net syscall in a file record
  DecodeError error = expect_error(record_bytes(file));
  EXPECT_EQ(error.reason, DecodeErrorReason::unknown_syscall);
  EXPECT_EQ(error.field, "sc.syscall_nr");
  EXPECT_EQ(error.offset, 80u);
  EXPECT_EQ(error.value, static_cast<std::uint64_t>(VIGIL_NR_connect));

  file.sc.syscall_nr = 0;  // read: not captured at all
  EXPECT_EQ(expect_error(record_bytes(file)).reason, DecodeErrorReason::unknown_syscall);
  file.sc.syscall_nr = 0xffffffffu;
  EXPECT_EQ(expect_error(record_bytes(file)).reason, DecodeErrorReason::unknown_syscall);
}

TEST(EventsDecoder, ResultFormCarriesTheDescription) {
  auto fork = vigil::test::make_fork(1, 2);
  fork.header.type = 77;
  auto event = decode(record_bytes(fork));
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().message, "record: header.type at offset 8 is 77, not a known record type");
  auto good = decode(record_bytes(vigil::test::make_fork(1, 2)));
  ASSERT_TRUE(good);
  EXPECT_EQ(good->fork()->child_pid, 2u);
}

}  // namespace
