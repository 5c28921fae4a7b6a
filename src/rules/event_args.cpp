#include "rules/event_args.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <initializer_list>

namespace vigil::rules {

namespace {

using events::EventType;

// Argument lists, in the order of Falco's exit event where that carries the inputs, else
// Falco's entry arguments followed by res (docs/rules.md).
struct ArgList {
  EventType type;
  std::initializer_list<std::string_view> names;
};

const ArgList kArgLists[] = {
    {EventType::open, {"fd", "name", "flags", "mode", "dev", "ino"}},
    {EventType::openat, {"fd", "dirfd", "name", "flags", "mode", "dev", "ino"}},
    {EventType::openat2, {"fd", "dirfd", "name", "flags", "mode", "resolve", "dev", "ino"}},
    {EventType::creat, {"fd", "name", "mode", "dev", "ino"}},
    {EventType::unlink, {"res", "path"}},
    {EventType::unlinkat, {"res", "dirfd", "name", "flags"}},
    {EventType::rename, {"res", "oldpath", "newpath"}},
    {EventType::renameat, {"res", "olddirfd", "oldpath", "newdirfd", "newpath"}},
    {EventType::renameat2, {"res", "olddirfd", "oldpath", "newdirfd", "newpath", "flags"}},
    {EventType::chmod, {"res", "filename", "mode"}},
    {EventType::fchmod, {"res", "fd", "mode"}},
    {EventType::fchmodat, {"res", "dirfd", "filename", "mode"}},
    {EventType::fchmodat2, {"res", "dirfd", "filename", "mode", "flags"}},
    {EventType::chown, {"res", "path", "uid", "gid"}},
    {EventType::lchown, {"res", "path", "uid", "gid"}},
    {EventType::fchown, {"res", "fd", "uid", "gid"}},
    {EventType::fchownat, {"res", "dirfd", "pathname", "uid", "gid", "flags"}},
    {EventType::mount, {"res", "dev", "dir", "type", "flags"}},
    {EventType::umount2, {"res", "name", "flags"}},
    {EventType::chdir, {"res", "path"}},
    {EventType::fchdir, {"res", "fd"}},
    {EventType::mkdir, {"res", "path", "mode"}},
    {EventType::mkdirat, {"res", "dirfd", "path", "mode"}},
    {EventType::rmdir, {"res", "path"}},
    {EventType::symlink, {"res", "target", "linkpath"}},
    {EventType::symlinkat, {"res", "target", "linkdirfd", "linkpath"}},
    {EventType::link, {"res", "oldpath", "newpath"}},
    {EventType::linkat, {"res", "olddir", "oldpath", "newdir", "newpath", "flags"}},
    {EventType::socket, {"domain", "type", "proto", "fd"}},
    {EventType::connect, {"res", "tuple", "fd", "addr"}},
    {EventType::accept, {"fd", "tuple"}},
    {EventType::accept4, {"fd", "tuple", "flags"}},
    {EventType::bind, {"res", "addr", "fd"}},
    {EventType::listen, {"res", "fd", "backlog"}},
    {EventType::sendto, {"res", "data", "fd", "size", "tuple"}},
    {EventType::sendmsg, {"res", "data", "fd", "size", "tuple"}},
    {EventType::recvfrom, {"res", "data", "tuple", "fd", "size"}},
    {EventType::recvmsg, {"res", "size", "data", "tuple", "fd"}},
    {EventType::setuid, {"res", "uid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setgid, {"res", "gid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setreuid, {"res", "ruid", "euid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setregid, {"res", "rgid", "egid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setresuid, {"res", "ruid", "euid", "suid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setresgid, {"res", "rgid", "egid", "sgid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setfsuid, {"res", "uid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::setfsgid, {"res", "gid", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::capset, {"res", "cap_inheritable", "cap_permitted", "cap_effective", "old_uid", "old_euid", "old_gid", "old_egid"}},
    {EventType::ptrace, {"res", "request", "pid", "addr", "data"}},
    {EventType::kill, {"res", "pid", "sig"}},
    {EventType::tkill, {"res", "tid", "sig"}},
    {EventType::tgkill, {"res", "pid", "tid", "sig"}},
    {EventType::unshare, {"res", "flags"}},
    {EventType::setns, {"res", "fd", "nstype"}},
    {EventType::dup, {"res", "oldfd"}},
    {EventType::dup2, {"res", "oldfd", "newfd"}},
    {EventType::dup3, {"res", "oldfd", "newfd", "flags"}},
    {EventType::close, {"res", "fd"}},
    {EventType::memfd_create, {"fd", "name", "flags"}},
    {EventType::mmap, {"res", "addr", "length", "prot", "flags", "fd", "offset"}},
    {EventType::mprotect, {"res", "addr", "length", "prot"}},
    {EventType::bpf, {"fd", "cmd"}},
    {EventType::init_module, {"res", "length", "uargs"}},
    {EventType::finit_module, {"res", "fd", "uargs", "flags"}},
    {EventType::userfaultfd, {"res", "flags"}},
    {EventType::execve, {"res", "exe", "args", "filename"}},
    {EventType::execveat, {"res", "exe", "args", "filename", "dirfd", "flags"}},
    {EventType::procexec, {"exe", "args", "filename"}},
    {EventType::fork, {"child_pid", "child_tid"}},
    {EventType::procexit, {"status"}},
};

const std::initializer_list<std::string_view>* names_of(EventType type) noexcept {
  for (const ArgList& list : kArgLists) {
    if (list.type == type) return &list.names;
  }
  return nullptr;
}

struct Flag {
  std::uint64_t bits;
  std::string_view name;
};

void append_flags(std::string& out, std::uint64_t value, std::initializer_list<Flag> flags) {
  bool first = true;
  for (const Flag& flag : flags) {
    if (flag.bits != 0 && (value & flag.bits) == flag.bits) {
      if (!first) out.push_back('|');
      out.append(flag.name);
      first = false;
      value &= ~flag.bits;
    }
  }
  if (value != 0) {  // bits without a name: keep them visible
    if (!first) out.push_back('|');
    char digits[24];
    out.append("0x");
    const auto end = std::to_chars(digits, digits + sizeof digits, value, 16).ptr;
    out.append(digits, end);
  }
}

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

void append_unsigned(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

void append_octal(std::string& out, std::uint32_t value) {
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, value, 8).ptr;
  out.push_back('0');
  out.append(digits, end);
}

void append_enum(std::string& out, std::uint64_t value, std::initializer_list<Flag> names) {
  for (const Flag& entry : names) {
    if (entry.bits == value) {
      out.append(entry.name);
      return;
    }
  }
  append_unsigned(out, value);
}

void append_address(std::string& out, const events::SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if ((address.family == AF_INET && address.addr.size() == 4) ||
      (address.family == AF_INET6 && address.addr.size() == 16)) {
    if (::inet_ntop(address.family, address.addr.data(), text, sizeof text) == nullptr) return;
    if (address.family == AF_INET6) out.push_back('[');
    out.append(text);
    if (address.family == AF_INET6) out.push_back(']');
    out.push_back(':');
    append_unsigned(out, address.port);
  } else if (address.family == AF_UNIX) {
    out.append(address.unix_path);
  }
}

void append_domain(std::string& out, std::uint64_t domain) {
  append_enum(out, domain,
              {{AF_UNIX, "AF_UNIX"}, {AF_INET, "AF_INET"}, {AF_INET6, "AF_INET6"}, {AF_NETLINK, "AF_NETLINK"},
               {AF_PACKET, "AF_PACKET"}, {AF_BLUETOOTH, "AF_BLUETOOTH"}, {AF_VSOCK, "AF_VSOCK"}, {AF_ALG, "AF_ALG"},
               {AF_KEY, "AF_KEY"}, {AF_XDP, "AF_XDP"}});
}

void append_socket_type(std::string& out, std::uint64_t type) {
  append_enum(out, type & 0xf,
              {{SOCK_STREAM, "SOCK_STREAM"}, {SOCK_DGRAM, "SOCK_DGRAM"}, {SOCK_RAW, "SOCK_RAW"},
               {SOCK_SEQPACKET, "SOCK_SEQPACKET"}, {SOCK_RDM, "SOCK_RDM"}, {SOCK_PACKET, "SOCK_PACKET"}});
  if (type & SOCK_NONBLOCK) out.append("|SOCK_NONBLOCK");
  if (type & SOCK_CLOEXEC) out.append("|SOCK_CLOEXEC");
}

void append_ptrace_request(std::string& out, std::uint64_t request) {
  append_enum(out, request,
              {{0, "PTRACE_TRACEME"}, {1, "PTRACE_PEEKTEXT"}, {2, "PTRACE_PEEKDATA"}, {3, "PTRACE_PEEKUSR"},
               {4, "PTRACE_POKETEXT"}, {5, "PTRACE_POKEDATA"}, {6, "PTRACE_POKEUSR"}, {7, "PTRACE_CONT"},
               {8, "PTRACE_KILL"}, {9, "PTRACE_SINGLESTEP"}, {12, "PTRACE_GETREGS"}, {13, "PTRACE_SETREGS"},
               {14, "PTRACE_GETFPREGS"}, {15, "PTRACE_SETFPREGS"}, {16, "PTRACE_ATTACH"}, {17, "PTRACE_DETACH"},
               {24, "PTRACE_SYSCALL"}, {0x4200, "PTRACE_SETOPTIONS"}, {0x4201, "PTRACE_GETEVENTMSG"},
               {0x4202, "PTRACE_GETSIGINFO"}, {0x4203, "PTRACE_SETSIGINFO"}, {0x4204, "PTRACE_GETREGSET"},
               {0x4205, "PTRACE_SETREGSET"}, {0x4206, "PTRACE_SEIZE"}, {0x4207, "PTRACE_INTERRUPT"},
               {0x4208, "PTRACE_LISTEN"}});
}

void append_signal(std::string& out, std::uint64_t signal) {
  const char* abbrev = ::sigabbrev_np(static_cast<int>(signal));
  if (signal < 128 && abbrev != nullptr) {
    out.append("SIG");
    out.append(abbrev);
  } else {
    append_unsigned(out, signal);
  }
}

void append_clone_flags(std::string& out, std::uint64_t flags) {
  append_flags(out, flags,
               {{0x00020000, "CLONE_NEWNS"}, {0x02000000, "CLONE_NEWCGROUP"}, {0x04000000, "CLONE_NEWUTS"},
                {0x08000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
                {0x40000000, "CLONE_NEWNET"}, {0x00000080, "CLONE_NEWTIME"}, {0x00000200, "CLONE_FS"},
                {0x00000400, "CLONE_FILES"}, {0x00040000, "CLONE_SYSVSEM"}});
}

void append_prot(std::string& out, std::uint64_t prot) {
  if (prot == 0) {
    out.append("PROT_NONE");
    return;
  }
  append_flags(out, prot, {{PROT_READ, "PROT_READ"}, {PROT_WRITE, "PROT_WRITE"}, {PROT_EXEC, "PROT_EXEC"}});
}

void append_mount_flags(std::string& out, std::uint64_t flags) {
  append_flags(out, flags,
               {{MS_RDONLY, "MS_RDONLY"}, {MS_NOSUID, "MS_NOSUID"}, {MS_NODEV, "MS_NODEV"}, {MS_NOEXEC, "MS_NOEXEC"},
                {MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {MS_REMOUNT, "MS_REMOUNT"}, {MS_MANDLOCK, "MS_MANDLOCK"},
                {MS_DIRSYNC, "MS_DIRSYNC"}, {MS_NOATIME, "MS_NOATIME"}, {MS_NODIRATIME, "MS_NODIRATIME"},
                {MS_BIND, "MS_BIND"}, {MS_MOVE, "MS_MOVE"}, {MS_REC, "MS_REC"}, {MS_SILENT, "MS_SILENT"},
                {MS_POSIXACL, "MS_POSIXACL"}, {MS_UNBINDABLE, "MS_UNBINDABLE"}, {MS_PRIVATE, "MS_PRIVATE"},
                {MS_SLAVE, "MS_SLAVE"}, {MS_SHARED, "MS_SHARED"}, {MS_RELATIME, "MS_RELATIME"},
                {MS_STRICTATIME, "MS_STRICTATIME"}, {MS_LAZYTIME, "MS_LAZYTIME"}});
}

// Renders what a path argument holds: "" when unreadable (missing).
bool append_path(std::string& out, std::string_view path, bool unreadable) {
  if (unreadable) return false;
  out.append(path);
  return true;
}

bool render_file_arg(const events::Event& event, std::string_view name, std::string& out) {
  const events::FilePayload* file = event.file();
  if (file == nullptr) return false;
  const std::int64_t ret = event.syscall.ret;
  const bool is_open = event.type == EventType::open || event.type == EventType::openat ||
                       event.type == EventType::openat2 || event.type == EventType::creat;
  if (name == "res") return append_number(out, ret), true;
  if (name == "fd") {
    if (is_open) return append_number(out, ret), true;
    return append_number(out, file->fd), true;
  }
  if (name == "dirfd" || name == "olddirfd" || name == "olddir") return append_number(out, file->dirfd), true;
  if (name == "newdirfd" || name == "newdir" || name == "linkdirfd") return append_number(out, file->dirfd2), true;
  if (name == "name" || name == "path" || name == "filename" || name == "pathname" || name == "oldpath" ||
      name == "dev" || name == "target") {
    return append_path(out, file->path, file->path_unreadable);
  }
  if (name == "newpath" || name == "dir" || name == "linkpath") return append_path(out, file->path2, file->path2_unreadable);
  if (name == "type") return out.append(file->fstype), true;
  if (name == "mode") {
    if (is_open) return append_octal(out, file->mode), true;
    return append_mode_bits(out, file->mode), true;
  }
  if (name == "uid") return append_number(out, static_cast<std::int32_t>(file->uid)), true;
  if (name == "gid") return append_number(out, static_cast<std::int32_t>(file->gid)), true;
  if (name == "resolve") return append_unsigned(out, file->resolve), true;
  if (name == "ino") return append_unsigned(out, file->ino), true;
  if (name == "flags") {
    switch (event.type) {
      case EventType::open: case EventType::openat: case EventType::openat2:
        append_open_flags(out, file->open_flags);
        return true;
      case EventType::mount: append_mount_flags(out, file->open_flags); return true;
      case EventType::unlinkat:
        append_flags(out, file->at_flags, {{0x200, "AT_REMOVEDIR"}});
        return true;
      case EventType::renameat2:
        append_flags(out, file->at_flags, {{1, "RENAME_NOREPLACE"}, {2, "RENAME_EXCHANGE"}, {4, "RENAME_WHITEOUT"}});
        return true;
      case EventType::umount2:
        append_flags(out, file->at_flags,
                     {{1, "MNT_FORCE"}, {2, "MNT_DETACH"}, {4, "MNT_EXPIRE"}, {8, "UMOUNT_NOFOLLOW"}});
        return true;
      case EventType::linkat:
        append_flags(out, file->at_flags, {{0x400, "AT_SYMLINK_FOLLOW"}, {0x1000, "AT_EMPTY_PATH"}});
        return true;
      default: append_unsigned(out, file->at_flags); return true;
    }
  }
  return false;
}

bool render_net_arg(const events::Event& event, std::string_view name, std::string& out) {
  const events::NetPayload* net = event.net();
  if (net == nullptr) return false;
  const std::int64_t ret = event.syscall.ret;
  if (name == "res") return append_number(out, ret), true;
  if (name == "fd") {
    if (event.type == EventType::socket || event.type == EventType::accept || event.type == EventType::accept4)
      return append_number(out, ret), true;
    return append_number(out, net->fd), true;
  }
  if (name == "domain") return append_domain(out, static_cast<std::uint32_t>(net->domain)), true;
  if (name == "type") return append_socket_type(out, static_cast<std::uint32_t>(net->type)), true;
  if (name == "proto") return append_number(out, net->protocol), true;
  if (name == "size") return append_unsigned(out, net->io_len), true;
  if (name == "data") {
    // Printable ASCII as is, other bytes as '.' (Falco's default rendering of buffers).
    for (std::uint8_t byte : net->data) out.push_back(byte >= 0x20 && byte < 0x7f ? static_cast<char>(byte) : '.');
    return true;
  }
  if (name == "backlog") return append_number(out, net->backlog), true;
  if (name == "flags") {
    append_flags(out, net->accept_flags, {{SOCK_NONBLOCK, "SOCK_NONBLOCK"}, {SOCK_CLOEXEC, "SOCK_CLOEXEC"}});
    return true;
  }
  if (name == "addr") {
    const events::SocketAddress& address = event.type == EventType::connect ? net->remote : net->local;
    if (address.family == 0) return false;
    append_address(out, address);
    return true;
  }
  if (name == "tuple") {
    // Falco's tuple: client->server.
    const bool accepted = event.type == EventType::accept || event.type == EventType::accept4;
    const events::SocketAddress& client = accepted ? net->remote : net->local;
    const events::SocketAddress& server = accepted ? net->local : net->remote;
    if (client.family == 0 && server.family == 0) return false;
    append_address(out, client);
    out.append("->");
    append_address(out, server);
    return true;
  }
  return false;
}

bool render_cred_arg(const events::Event& event, std::string_view name, std::string& out) {
  const events::CredPayload* cred = event.cred();
  if (cred == nullptr) return false;
  if (name == "res") return append_number(out, event.syscall.ret), true;
  if (name == "cap_inheritable") return append_capabilities(out, cred->new_creds.cap_inheritable), true;
  if (name == "cap_permitted") return append_capabilities(out, cred->new_creds.cap_permitted), true;
  if (name == "cap_effective") return append_capabilities(out, cred->new_creds.cap_effective), true;
  // vigil's extension: the caller's ids before the call (saved at entry), because records are
  // made at exit, where user.uid already shows the new ones. Missing when the entry was not seen.
  if (name == "old_uid" || name == "old_euid" || name == "old_gid" || name == "old_egid") {
    if (event.syscall.no_enter) return false;
    const events::Credentials& old = cred->old_creds;
    const std::uint32_t id = name == "old_uid" ? old.uid : name == "old_euid" ? old.euid : name == "old_gid" ? old.gid : old.egid;
    return append_number(out, id), true;
  }
  // ids as passed: set*id(a) [a], setre*id(r, e), setres*id(r, e, s)
  int position = -1;
  if (name == "uid" || name == "gid" || name == "ruid" || name == "rgid") position = 0;
  if (name == "euid" || name == "egid") position = 1;
  if (name == "suid" || name == "sgid") position = 2;
  if (position < 0) return false;
  append_number(out, static_cast<std::int32_t>(cred->id_args[position]));
  return true;
}

bool render_proc_arg(const events::Event& event, std::string_view name, std::string& out) {
  const events::ProcPayload* proc = event.proc();
  if (proc == nullptr) return false;
  const std::int64_t ret = event.syscall.ret;
  const auto arg = [&](int i) { return proc->args[i]; };
  const auto signed_arg = [&](int i) { return static_cast<std::int64_t>(static_cast<std::int32_t>(proc->args[i])); };
  if (name == "res" || (name == "fd" && (event.type == EventType::memfd_create || event.type == EventType::bpf)))
    return append_number(out, ret), true;
  switch (event.type) {
    case EventType::ptrace:
      if (name == "request") return append_ptrace_request(out, arg(0)), true;
      if (name == "pid") return append_number(out, signed_arg(1)), true;
      if (name == "addr") return append_unsigned(out, arg(2)), true;
      if (name == "data") return append_unsigned(out, arg(3)), true;
      return false;
    case EventType::kill:
      if (name == "pid") return append_number(out, signed_arg(0)), true;
      if (name == "sig") return append_signal(out, arg(1)), true;
      return false;
    case EventType::tkill:
      if (name == "tid") return append_number(out, signed_arg(0)), true;
      if (name == "sig") return append_signal(out, arg(1)), true;
      return false;
    case EventType::tgkill:
      if (name == "pid") return append_number(out, signed_arg(0)), true;
      if (name == "tid") return append_number(out, signed_arg(1)), true;
      if (name == "sig") return append_signal(out, arg(2)), true;
      return false;
    case EventType::unshare:
      if (name == "flags") return append_clone_flags(out, arg(0)), true;
      return false;
    case EventType::setns:
      if (name == "fd") return append_number(out, signed_arg(0)), true;
      if (name == "nstype") return append_clone_flags(out, arg(1)), true;
      return false;
    case EventType::dup: case EventType::dup2: case EventType::dup3: case EventType::close:
      if (name == "oldfd" || name == "fd") return append_number(out, signed_arg(0)), true;
      if (name == "newfd") return append_number(out, signed_arg(1)), true;
      if (name == "flags") return append_flags(out, arg(2), {{O_CLOEXEC, "O_CLOEXEC"}}), true;
      return false;
    case EventType::memfd_create:
      if (name == "name") return append_path(out, proc->str, proc->str_unreadable);
      if (name == "flags")
        return append_flags(out, arg(1), {{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"}}), true;
      return false;
    case EventType::mmap:
      if (name == "addr") return append_unsigned(out, arg(0)), true;
      if (name == "length") return append_unsigned(out, arg(1)), true;
      if (name == "prot") return append_prot(out, arg(2)), true;
      if (name == "flags")
        return append_flags(out, arg(3),
                            {{MAP_SHARED, "MAP_SHARED"}, {MAP_PRIVATE, "MAP_PRIVATE"}, {MAP_FIXED, "MAP_FIXED"},
                             {MAP_ANONYMOUS, "MAP_ANONYMOUS"}}),
               true;
      if (name == "fd") return append_number(out, signed_arg(4)), true;
      if (name == "offset") return append_unsigned(out, arg(5)), true;
      return false;
    case EventType::mprotect:
      if (name == "addr") return append_unsigned(out, arg(0)), true;
      if (name == "length") return append_unsigned(out, arg(1)), true;
      if (name == "prot") return append_prot(out, arg(2)), true;
      return false;
    case EventType::bpf:
      if (name == "cmd") return append_unsigned(out, arg(0)), true;
      return false;
    case EventType::init_module:
      if (name == "length") return append_unsigned(out, arg(1)), true;
      if (name == "uargs") return append_path(out, proc->str, proc->str_unreadable);
      return false;
    case EventType::finit_module:
      if (name == "fd") return append_number(out, signed_arg(0)), true;
      if (name == "uargs") return append_path(out, proc->str, proc->str_unreadable);
      if (name == "flags") return append_unsigned(out, arg(2)), true;
      return false;
    case EventType::userfaultfd:
      if (name == "flags") return append_flags(out, arg(0), {{O_CLOEXEC, "O_CLOEXEC"}, {O_NONBLOCK, "O_NONBLOCK"}}), true;
      return false;
    default: return false;
  }
}

bool render_exec_arg(const events::Event& event, std::string_view name, std::string& out) {
  const events::ExecPayload* exec = event.exec();
  if (exec == nullptr) return false;
  if (name == "res") return append_number(out, event.syscall.ret), true;
  if (name == "filename") return out.append(exec->filename), true;
  if (name == "exe") {
    if (exec->args.empty()) return false;
    out.append(*exec->args.begin());
    return true;
  }
  if (name == "args") {
    bool first = true;
    bool skipped_argv0 = false;
    for (std::string_view arg : exec->args) {
      if (!skipped_argv0) {
        skipped_argv0 = true;
        continue;
      }
      if (!first) out.push_back(' ');
      out.append(arg);
      first = false;
    }
    return true;
  }
  if (name == "dirfd") return append_number(out, exec->dirfd), true;
  if (name == "flags") return append_unsigned(out, exec->at_flags), true;
  return false;
}

}  // namespace

int event_arg_index(EventType type, std::string_view name) noexcept {
  const auto* names = names_of(type);
  if (names == nullptr) return -1;
  int index = 0;
  for (std::string_view candidate : *names) {
    if (candidate == name) return index;
    ++index;
  }
  return -1;
}

std::string_view event_arg_name(EventType type, int index) noexcept {
  const auto* names = names_of(type);
  if (names == nullptr || index < 0 || static_cast<std::size_t>(index) >= names->size()) return {};
  return *(names->begin() + index);
}

int event_arg_count(EventType type) noexcept {
  const auto* names = names_of(type);
  return names == nullptr ? 0 : static_cast<int>(names->size());
}

bool is_known_event_arg(std::string_view name) noexcept {
  for (const ArgList& list : kArgLists) {
    for (std::string_view candidate : list.names) {
      if (candidate == name) return true;
    }
  }
  return false;
}

bool render_event_arg(const events::Event& event, int index, std::string& out) {
  out.clear();
  const std::string_view name = event_arg_name(event.type, index);
  if (name.empty()) return false;
  if (event.type == EventType::fork) {
    const auto* fork = event.fork();
    if (fork == nullptr) return false;
    append_unsigned(out, index == 0 ? fork->child_pid : fork->child_tid);
    return true;
  }
  if (event.type == EventType::procexit) {
    const auto* exit = event.exit();
    if (exit == nullptr) return false;
    append_unsigned(out, exit->status);
    return true;
  }
  if (render_file_arg(event, name, out) || render_net_arg(event, name, out) || render_cred_arg(event, name, out) ||
      render_proc_arg(event, name, out) || render_exec_arg(event, name, out)) {
    return true;
  }
  out.clear();
  return false;
}

void render_event_args(const events::Event& event, std::string& out, std::string& value) {
  out.clear();
  const int count = event_arg_count(event.type);
  for (int index = 0; index < count; ++index) {
    if (!render_event_arg(event, index, value)) continue;
    if (!out.empty()) out.push_back(' ');
    out.append(event_arg_name(event.type, index));
    out.push_back('=');
    out.append(value);
  }
}

void append_open_flags(std::string& out, std::uint64_t flags) {
  switch (flags & O_ACCMODE) {
    case O_WRONLY: out.append("O_WRONLY"); break;
    case O_RDWR: out.append("O_RDWR"); break;
    default: out.append("O_RDONLY"); break;
  }
  flags &= ~static_cast<std::uint64_t>(O_ACCMODE);
  if (flags == 0) return;
  out.push_back('|');
  // __O_TMPFILE includes O_DIRECTORY: name it before O_DIRECTORY can claim the bit.
  append_flags(out, flags,
               {{O_TMPFILE, "O_TMPFILE"}, {O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"}, {O_NOCTTY, "O_NOCTTY"},
                {O_TRUNC, "O_TRUNC"}, {O_APPEND, "O_APPEND"}, {O_NONBLOCK, "O_NONBLOCK"}, {O_SYNC, "O_SYNC"},
                {O_DSYNC, "O_DSYNC"}, {O_DIRECT, "O_DIRECT"}, {0x8000, "O_LARGEFILE"}, {O_DIRECTORY, "O_DIRECTORY"},
                {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"}, {O_CLOEXEC, "O_CLOEXEC"}, {O_PATH, "O_PATH"}});
}

void append_mode_bits(std::string& out, std::uint32_t mode) {
  append_flags(out, mode & 07777,
               {{04000, "S_ISUID"}, {02000, "S_ISGID"}, {01000, "S_ISVTX"}, {0400, "S_IRUSR"}, {0200, "S_IWUSR"},
                {0100, "S_IXUSR"}, {040, "S_IRGRP"}, {020, "S_IWGRP"}, {010, "S_IXGRP"}, {04, "S_IROTH"},
                {02, "S_IWOTH"}, {01, "S_IXOTH"}});
}

void append_capabilities(std::string& out, std::uint64_t mask) {
  static constexpr std::array<std::string_view, 41> kNames{
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
      "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
      "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
      "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
      "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
      "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
  bool first = true;
  for (std::size_t bit = 0; bit < 64; ++bit) {
    if ((mask & (1ull << bit)) == 0) continue;
    if (!first) out.push_back(' ');
    first = false;
    if (bit < kNames.size()) {
      out.append(kNames[bit]);
    } else {
      out.append("CAP_");
      append_unsigned(out, bit);
    }
  }
}

std::string_view errno_name(std::int64_t ret) noexcept {
  if (ret >= 0 || ret < -4095) return {};
  const char* name = ::strerrorname_np(static_cast<int>(-ret));
  return name == nullptr ? std::string_view{} : std::string_view(name);
}

}  // namespace vigil::rules
