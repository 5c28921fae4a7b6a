// Planning the in-kernel path filter (bpf/abi/path_filter.h): which syscalls share a group and
// what each LPM trie entry must answer. Pure, so it is tested without root.
#include <algorithm>
#include <string>

#include "path_filter.h"
#include "probe/probe.h"
#include "syscall_nr.h"

namespace vigil::probe {

bool path_filter_supported(int syscall_number) {
  switch (syscall_number) {
    case VIGIL_NR_open:
    case VIGIL_NR_creat:
    case VIGIL_NR_openat:
    case VIGIL_NR_openat2:
    case VIGIL_NR_unlink:
    case VIGIL_NR_unlinkat:
    case VIGIL_NR_chmod:
    case VIGIL_NR_fchmodat:
    case VIGIL_NR_fchmodat2:
    case VIGIL_NR_chown:
    case VIGIL_NR_lchown:
    case VIGIL_NR_fchownat:
    case VIGIL_NR_umount2:
    case VIGIL_NR_rename:  // two paths: wanted when either is
    case VIGIL_NR_renameat:
    case VIGIL_NR_renameat2:
    case VIGIL_NR_mount:
      return true;
    default:
      return false;  // no path (fchmod, fchown) or not a file call
  }
}

namespace {

Result<void> check_prefix(int syscall_number, const std::string& prefix) {
  auto where = [&] { return "path filter of syscall " + std::to_string(syscall_number) + ": prefix '" + prefix + "'"; };
  if (prefix.empty() || prefix.front() != '/') return fail(where() + " is not absolute");
  if (prefix.size() >= VIGIL_PATH_PREFIX_MAX)
    return fail(where() + " is longer than " + std::to_string(VIGIL_PATH_PREFIX_MAX - 1) + " bytes");
  if (prefix.find('\0') != std::string::npos) return fail(where() + " contains a NUL byte");
  return {};
}

// Duplicates removed, and a prefix wanted for everything makes the same write-only one moot.
PathFilter normalised(const PathFilter& filter) {
  PathFilter out;
  out.prefixes = filter.prefixes;
  std::ranges::sort(out.prefixes);
  out.prefixes.erase(std::unique(out.prefixes.begin(), out.prefixes.end()), out.prefixes.end());
  for (const auto& p : filter.write_prefixes)
    if (!std::ranges::binary_search(out.prefixes, p)) out.write_prefixes.push_back(p);
  std::ranges::sort(out.write_prefixes);
  out.write_prefixes.erase(std::unique(out.write_prefixes.begin(), out.write_prefixes.end()),
                           out.write_prefixes.end());
  return out;
}

}  // namespace

Result<PathFilterPlan> plan_path_filters(const PathFilters& filters) {
  PathFilterPlan plan;
  for (const auto& [number, raw] : filters) {
    if (!path_filter_supported(number))
      return fail("syscall " + std::to_string(number) + " cannot have a path filter (it takes no path)");
    for (const auto& p : raw.prefixes)
      if (auto ok = check_prefix(number, p); !ok) return std::unexpected(ok.error());
    for (const auto& p : raw.write_prefixes)
      if (auto ok = check_prefix(number, p); !ok) return std::unexpected(ok.error());
    PathFilter filter = normalised(raw);
    auto same = std::ranges::find(plan.filters, filter);
    std::size_t group = static_cast<std::size_t>(same - plan.filters.begin());
    if (same == plan.filters.end()) plan.filters.push_back(std::move(filter));
    plan.group_of[number] = group;
  }
  if (plan.filters.size() > 255) return fail("more than 255 distinct path filters");

  for (std::size_t group = 0; group < plan.filters.size(); ++group) {
    const PathFilter& filter = plan.filters[group];
    std::vector<std::pair<std::string, std::uint8_t>> own;
    for (const auto& p : filter.prefixes) own.emplace_back(p, VIGIL_PATH_WANT_ANY);
    for (const auto& p : filter.write_prefixes) own.emplace_back(p, VIGIL_PATH_WANT_WRITE);
    std::ranges::sort(own);
    // The trie answers with the longest matching prefix only: each entry carries what every
    // shorter prefix of its group wants too.
    for (std::size_t i = 0; i < own.size(); ++i) {
      if (i > 0 && own[i].first == own[i - 1].first) {
        plan.entries.back().want |= own[i].second;
        continue;
      }
      std::uint8_t want = 0;
      for (const auto& [other, bits] : own)
        if (own[i].first.starts_with(other)) want |= bits;
      plan.entries.push_back({group, own[i].first, want});
    }
  }
  if (plan.entries.size() > 4096) return fail("more than 4096 path filter prefixes");
  return plan;
}

}  // namespace vigil::probe
