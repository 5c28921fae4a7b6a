#include "state/proc_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace vigil::state {

namespace {

// Parses a decimal number of the field starting at `text`, with its separators trimmed.
template <class T>
bool parse_number(std::string_view text, T& value, int base = 10) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

std::string_view next_field(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const auto end = rest.find(' ');
  std::string_view field = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return field;
}

// "Uid:\t0\t0\t0\t0" -> real and effective.
bool parse_id_line(std::string_view line, std::uint32_t& real, std::uint32_t& effective) {
  std::uint32_t values[2];
  std::size_t count = 0;
  std::size_t position = 0;
  while (count < 2 && position < line.size()) {
    while (position < line.size() && (line[position] == '\t' || line[position] == ' ')) ++position;
    std::size_t end = position;
    while (end < line.size() && line[end] != '\t' && line[end] != ' ') ++end;
    if (end == position || !parse_number(line.substr(position, end - position), values[count])) return false;
    ++count;
    position = end;
  }
  if (count != 2) return false;
  real = values[0];
  effective = values[1];
  return true;
}

}  // namespace

ProcReader::ProcReader(std::string proc_root) : root_(std::move(proc_root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) ns_per_tick_ = 1'000'000'000ull / static_cast<std::uint64_t>(ticks);
}

const std::string& ProcReader::path_of(std::uint32_t pid, std::string_view leaf) {
  path_.assign(root_);
  path_.push_back('/');
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, pid).ptr;
  path_.append(digits, end);
  if (!leaf.empty()) {
    path_.push_back('/');
    path_.append(leaf);
  }
  return path_;
}

Result<std::string_view> ProcReader::read_file(const std::string& path, std::size_t limit, bool* truncated) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open " + path);
  buffer_.resize(limit + 1);
  std::size_t used = 0;
  while (used < buffer_.size()) {
    const ssize_t got = ::read(fd, buffer_.data() + used, buffer_.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      auto error = fail_errno("read " + path);
      ::close(fd);
      return error;
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  ::close(fd);
  if (truncated != nullptr) *truncated = used > limit;
  return std::string_view(buffer_.data(), used > limit ? limit : used);
}

Result<void> ProcReader::read_link(const std::string& path, std::string& out) {
  char target[4096];
  const ssize_t length = ::readlink(path.c_str(), target, sizeof target);
  if (length < 0) return fail_errno("readlink " + path);
  out.assign(target, static_cast<std::size_t>(length));
  return {};
}

Result<std::vector<std::uint32_t>> ProcReader::list_pids() {
  DIR* dir = ::opendir(root_.c_str());
  if (dir == nullptr) return fail_errno("opendir " + root_);
  std::vector<std::uint32_t> pids;
  while (const dirent* entry = ::readdir(dir)) {
    std::uint32_t pid = 0;
    if (parse_number(std::string_view(entry->d_name), pid) && pid != 0) pids.push_back(pid);
  }
  ::closedir(dir);
  return pids;
}

Result<void> ProcReader::read_stat(std::uint32_t pid, Process& out) {
  auto text = read_file(path_of(pid, "stat"), 4096);
  if (!text) return std::unexpected(text.error());
  // "pid (comm) state ppid ...": comm may contain anything, so cut at the *last* ")".
  const std::string_view stat = *text;
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return fail("malformed " + path_);
  }
  out.comm.assign(stat.substr(open + 1, close - open - 1));
  std::string_view rest = stat.substr(close + 1);
  // Field numbers as in proc(5): 3 state, 4 ppid, 7 tty_nr, 22 starttime.
  std::uint32_t ppid = 0;
  std::int64_t tty = 0;
  std::uint64_t start_ticks = 0;
  bool have_ppid = false, have_tty = false, have_start = false;
  for (int field = 3; field <= 22 && !rest.empty(); ++field) {
    const std::string_view value = next_field(rest);
    if (field == 3) out.state = value.empty() ? '?' : value.front();
    if (field == 4) have_ppid = parse_number(value, ppid);
    if (field == 7) have_tty = parse_number(value, tty);
    if (field == 22) have_start = parse_number(value, start_ticks);
  }
  if (!have_ppid || !have_tty || !have_start) return fail("malformed " + path_of(pid, "stat"));
  out.ppid = ppid;
  out.tty = static_cast<std::uint32_t>(tty);
  out.start_time_ns = start_ticks * ns_per_tick_;
  return {};
}

Result<void> ProcReader::read_ids(std::uint32_t pid, Process& out) {
  auto text = read_file(path_of(pid, "status"), 16384);
  if (!text) return std::unexpected(text.error());
  std::string_view rest = *text;
  bool have_uid = false, have_gid = false, have_caps = true;
  out.caps_known = false;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    // NSpid/NSpgid/NSsid: one number per pid namespace level, the process's own last.
    if (line.starts_with("NSpid:") || line.starts_with("NSpgid:") || line.starts_with("NSsid:")) {
      std::string_view numbers = line.substr(line.find(':') + 1);
      while (!numbers.empty() && (numbers.back() == ' ' || numbers.back() == '\t')) numbers.remove_suffix(1);
      const auto last = numbers.find_last_of(" \t");
      std::uint32_t value = 0;
      if (!parse_number(last == std::string_view::npos ? numbers : numbers.substr(last + 1), value)) value = 0;
      if (line.starts_with("NSpid:")) out.vpid = value;
      if (line.starts_with("NSpgid:")) out.vpgid = value;
      if (line.starts_with("NSsid:")) out.vsid = value;
    }
    if (line.starts_with("Uid:")) have_uid = parse_id_line(line.substr(4), out.uid, out.euid);
    if (line.starts_with("Gid:")) have_gid = parse_id_line(line.substr(4), out.gid, out.egid);
    // CapEff/CapPrm follow Uid/Gid in status: hex masks.
    if (line.starts_with("CapPrm:\t")) have_caps &= parse_number(line.substr(8), out.cap_permitted, 16);
    if (line.starts_with("CapEff:\t")) {
      have_caps &= parse_number(line.substr(8), out.cap_effective, 16);
      out.caps_known = have_caps;
      break;
    }
  }
  if (!have_uid || !have_gid) return fail("no Uid:/Gid: in " + path_of(pid, "status"));
  return {};
}

Result<void> ProcReader::read_cgroup(std::uint32_t pid, std::string& out) {
  out.clear();
  auto text = read_file(path_of(pid, "cgroup"), 65536);
  if (!text) return std::unexpected(text.error());
  std::string_view rest = *text;
  std::string_view first_v1;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    // "hierarchy-id:controllers:path"; the path itself may contain ':'.
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view path = line.substr(second + 1);
    if (line.substr(0, first) == "0" && second == first + 1) {
      out.assign(path);
      return {};
    }
    if (first_v1.empty()) first_v1 = path;
  }
  out.assign(first_v1);
  return {};
}

Result<void> ProcReader::read_exe(std::uint32_t pid, std::string& out) { return read_link(path_of(pid, "exe"), out); }

Result<void> ProcReader::read_cwd(std::uint32_t pid, std::string& out) { return read_link(path_of(pid, "cwd"), out); }

Result<void> ProcReader::stat_exe(std::uint32_t pid, std::uint64_t& ino, std::uint64_t& dev) {
  struct stat st{};
  if (::stat(path_of(pid, "exe").c_str(), &st) != 0) return fail_errno("stat " + path_);
  ino = st.st_ino;
  dev = st.st_dev;
  return {};
}

Result<void> ProcReader::read(std::uint32_t pid, Process& out, std::string& cgroup_path) {
  out.pid = pid;
  if (auto stat = read_stat(pid, out); !stat) return stat;
  out.vpid = out.vpgid = out.vsid = 0;
  if (!read_ids(pid, out)) {
    out.uid = out.euid = out.gid = out.egid = kUnknownId;
  }
  bool truncated = false;
  if (auto cmdline = read_file(path_of(pid, "cmdline"), kMaxProcArgsBytes, &truncated)) {
    out.args.assign(*cmdline);
    out.args_truncated = truncated;
    out.argc = 0;
    for (char c : out.args) out.argc += c == '\0' ? 1u : 0u;
    // A process that rewrote its argv area may have left no terminating NUL.
    if (!out.args.empty() && out.args.back() != '\0') ++out.argc;
  } else {
    out.args.clear();
    out.argc = 0;
  }
  if (!read_exe(pid, out.exe)) out.exe.clear();
  // As exec records give it: the path the file had, without /proc's " (deleted)".
  if (constexpr std::string_view deleted = " (deleted)"; out.exe.ends_with(deleted)) out.exe.resize(out.exe.size() - deleted.size());
  if (!read_cwd(pid, out.cwd)) out.cwd.clear();
  out.exec_name.assign(out.comm);  // what it was named at exec is not in /proc: comm as it is now
  out.exe_memfd = out.exe.starts_with("/memfd:");
  out.exe_ino = out.exe_dev = out.exe_mtime_ns = out.exe_ctime_ns = 0;
  struct stat exe{};
  if (::stat(path_of(pid, "exe").c_str(), &exe) == 0) {
    out.exe_ino = exe.st_ino;
    out.exe_dev = exe.st_dev;
    out.exe_mtime_ns = static_cast<std::uint64_t>(exe.st_mtim.tv_sec) * 1'000'000'000ull + exe.st_mtim.tv_nsec;
    out.exe_ctime_ns = static_cast<std::uint64_t>(exe.st_ctim.tv_sec) * 1'000'000'000ull + exe.st_ctim.tv_nsec;
  }
  out.mnt_ns = out.pid_ns = 0;
  struct stat ns{};
  if (::stat(path_of(pid, "ns/mnt").c_str(), &ns) == 0) out.mnt_ns = static_cast<std::uint32_t>(ns.st_ino);
  if (::stat(path_of(pid, "ns/pid").c_str(), &ns) == 0) out.pid_ns = static_cast<std::uint32_t>(ns.st_ino);
  // "4294967295" when no login session set it (and kernels without audit lack the file).
  out.loginuid = kUnknownId;
  if (auto loginuid = read_file(path_of(pid, "loginuid"), 32)) {
    std::string_view text = *loginuid;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (!parse_number(text, out.loginuid)) out.loginuid = kUnknownId;
  }
  if (auto cgroup = read_cgroup(pid, cgroup_path); !cgroup) cgroup_path.clear();
  out.origin = ProcessOrigin::proc;
  return {};
}

Result<void> ProcReader::read_fds(std::uint32_t pid, FdTable& out) {
  out.clear();
  const std::string dir_path = path_of(pid, "fd");
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return fail_errno("opendir " + dir_path);
  std::vector<int> fds;
  while (const dirent* entry = ::readdir(dir)) {
    int fd = -1;
    if (parse_number(std::string_view(entry->d_name), fd) && fd >= 0) fds.push_back(fd);
  }
  ::closedir(dir);
  for (int fd : fds) {
    const std::string leaf = "fd/" + std::to_string(fd);
    std::string target;
    if (!read_link(path_of(pid, leaf), target)) continue;  // closed meanwhile
    FdEntry& entry = out.put(fd);
    if (target.starts_with("socket:")) entry.type = FdType::socket;
    else if (target.starts_with("/")) entry.type = FdType::file;
    entry.path = std::move(target);
    // fdinfo "flags:\t02100002": octal open flags, O_CLOEXEC is 02000000.
    if (auto info = read_file(path_of(pid, "fdinfo/" + std::to_string(fd)), 4096)) {
      const auto at = info->find("flags:");
      if (at != std::string_view::npos) {
        std::string_view value = info->substr(at + 6);
        while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) value.remove_prefix(1);
        value = value.substr(0, value.find('\n'));
        unsigned flags = 0;
        if (parse_number(value, flags, 8)) entry.cloexec = (flags & O_CLOEXEC) != 0;
      }
    }
  }
  return {};
}

}  // namespace vigil::state
