// YAML policy documents -> PolicySet, with "file:line: error: ..." for every problem found.
// Every key is known: a misspelt key is an error, never silently ignored (a typo in a network
// policy must not open the network).
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "netpolicy/netpolicy.h"

namespace vigil::netpolicy {
namespace {

constexpr std::size_t kMaxPeerFileBytes = std::size_t{256} << 20;

class Parser {
 public:
  Parser(const std::string& file, std::vector<Diagnostic>& diagnostics, const ParseOptions& options)
      : file_(file), diagnostics_(diagnostics), options_(options) {}

  bool failed() const { return failed_; }

  void error(const YAML::Node& node, std::string message) {
    failed_ = true;
    diagnostics_.push_back({file_, line_of(node), std::move(message)});
  }
  void error_at(int line, std::string message) {
    failed_ = true;
    diagnostics_.push_back({file_, line, std::move(message)});
  }
  static int line_of(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return mark.line >= 0 ? mark.line + 1 : 0;
  }

  void document(const YAML::Node& root, PolicySet& out) {
    if (!root || root.IsNull()) return;  // an empty file holds no policy
    if (!root.IsMap()) return error(root, "a policy file is a mapping with a 'policies' list");
    for (const auto& entry : root) {
      const std::string key = scalar_key(entry.first);
      if (key == "policies") {
        if (!entry.second.IsSequence()) {
          error(entry.second, "'policies' must be a list");
          continue;
        }
        for (const auto& item : entry.second) policy(item, out);
      } else if (key == "host_deny") {
        host_deny(entry.second, out);
      } else {
        error(entry.first, "unknown key '" + key + "' (expected: policies, host_deny)");
      }
    }
  }

 private:
  std::string scalar_key(const YAML::Node& node) {
    if (!node.IsScalar()) {
      error(node, "keys must be plain strings");
      return {};
    }
    return node.Scalar();
  }

  std::optional<std::string> scalar(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<std::uint64_t> unsigned_number(const YAML::Node& node, std::string_view what, std::uint64_t max) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a number");
      return std::nullopt;
    }
    const std::string& text = node.Scalar();
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > max) {
      error(node, std::string(what) + " must be a number from 0 to " + std::to_string(max) + ", not '" + text + "'");
      return std::nullopt;
    }
    return value;
  }

  std::optional<Verdict> verdict(const YAML::Node& node, std::string_view what) {
    const auto text = scalar(node, what);
    if (!text) return std::nullopt;
    if (*text == "allow") return Verdict::allow;
    if (*text == "deny") return Verdict::deny;
    error(node, std::string(what) + " must be allow or deny, not '" + *text + "'");
    return std::nullopt;
  }

  std::optional<SubjectSelector> subject(const YAML::Node& node) {
    if (!node.IsMap() || node.size() != 1) {
      error(node, "a subject is a mapping with one key: signer, exe, container, cgroup or uid");
      return std::nullopt;
    }
    const auto entry = *node.begin();
    const std::string key = scalar_key(entry.first);
    SubjectSelector selector;
    if (key == "uid") {
      const auto uid = unsigned_number(entry.second, "uid", 0xfffffffeu);
      if (!uid) return std::nullopt;
      selector.kind = SubjectKind::uid;
      selector.value = std::to_string(*uid);
      return selector;
    }
    const auto value = scalar(entry.second, "subject '" + key + "'");
    if (!value) return std::nullopt;
    if (value->empty()) {
      error(entry.second, "subject '" + key + "' must not be empty");
      return std::nullopt;
    }
    selector.value = *value;
    if (key == "signer") {
      selector.kind = SubjectKind::signer;
    } else if (key == "exe") {
      if (value->front() != '/') {
        error(entry.second, "exe must be an absolute path or glob, not '" + *value + "'");
        return std::nullopt;
      }
      selector.kind = SubjectKind::exe;
    } else if (key == "container") {
      selector.kind = SubjectKind::container;
    } else if (key == "cgroup") {
      if (value->front() != '/') {
        error(entry.second, "cgroup must be a path in the cgroup v2 hierarchy starting with '/', not '" + *value +
                                "'");
        return std::nullopt;
      }
      selector.kind = SubjectKind::cgroup;
    } else if (key == "image" || key == "k8s_namespace" || key == "k8s_labels") {
      error(entry.first, "subject '" + key + "' is not supported yet (the agent does not know container images or "
                                             "Kubernetes metadata); use container: <id glob> or cgroup:");
      return std::nullopt;
    } else {
      error(entry.first, "unknown subject '" + key + "' (expected: signer, exe, container, cgroup or uid)");
      return std::nullopt;
    }
    return selector;
  }

  void ports(const YAML::Node& node, Rule& rule) {
    if (!node.IsSequence()) return error(node, "ports must be a list of ports (80) or ranges (\"8000-8080\")");
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        error(item, "a port must be a number or a range \"low-high\"");
        continue;
      }
      const std::string& text = item.Scalar();
      const std::size_t dash = text.find('-');
      auto number = [&](std::string_view digits, std::uint16_t& out) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || value < 1 || value > 65535)
          return false;
        out = static_cast<std::uint16_t>(value);
        return true;
      };
      PortRange range;
      const std::string_view view(text);
      if (dash == std::string::npos) {
        if (!number(view, range.low)) {
          error(item, "port '" + text + "' is out of range (1..65535)");
          continue;
        }
        range.high = range.low;
      } else if (!number(view.substr(0, dash), range.low) || !number(view.substr(dash + 1), range.high) ||
                 range.low > range.high) {
        error(item, "port range '" + text + "' must be \"low-high\" with 1 <= low <= high <= 65535");
        continue;
      }
      rule.ports.push_back(range);
    }
  }

  void peer_list(const YAML::Node& node, Rule& rule) {
    if (!node.IsSequence()) return error(node, "a peer list must be a list of CIDRs, 'any' or {subject: ...}");
    for (const auto& item : node) {
      if (item.IsMap()) {
        if (item.size() != 1 || !item["subject"]) {
          error(item, "a peer mapping must be {subject: {...}}");
          continue;
        }
        if (auto selector = subject(item["subject"])) rule.peer_subjects.push_back(*selector);
        continue;
      }
      if (!item.IsScalar()) {
        error(item, "a peer must be a CIDR, 'any' or {subject: ...}");
        continue;
      }
      if (item.Scalar() == "any") {
        Cidr v4, v6;
        v6.ipv6 = true;
        rule.peers.push_back(v4);
        rule.peers.push_back(v6);
        continue;
      }
      auto cidr = parse_cidr(item.Scalar());
      if (!cidr) {
        error(item, cidr.error().message);
        continue;
      }
      rule.peers.push_back(*cidr);
    }
  }

  // One CIDR per line; '#' starts a comment. Large deny lists live in such files.
  void peer_file(const YAML::Node& node, Rule& rule) {
    if (!options_.allow_peer_files) return error(node, "peer files are not allowed here");
    const auto name = scalar(node, "a peer file");
    if (!name) return;
    std::filesystem::path path(*name);
    if (path.is_relative()) path = std::filesystem::path(file_).parent_path() / path;
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(node, "cannot read peer file '" + path.string() + "'");
    std::string line;
    int number = 0;
    std::size_t bytes = 0;
    while (std::getline(in, line)) {
      ++number;
      bytes += line.size() + 1;
      if (bytes > kMaxPeerFileBytes) return error(node, path.string() + ": larger than 256 MiB");
      const std::size_t hash = line.find('#');
      if (hash != std::string::npos) line.erase(hash);
      const std::size_t first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      const std::size_t last = line.find_last_not_of(" \t\r");
      auto cidr = parse_cidr(std::string_view(line).substr(first, last - first + 1));
      if (!cidr) {
        failed_ = true;
        diagnostics_.push_back({path.string(), number, cidr.error().message});
        continue;
      }
      rule.peers.push_back(*cidr);
    }
  }

  void rules(const YAML::Node& node, Direction direction, Policy& policy) {
    const std::string list_name(direction_name(direction));
    if (!node.IsSequence()) return error(node, "'" + list_name + "' must be a list of rules");
    const char* peer_key = direction == Direction::egress ? "to" : "from";
    const std::string peer_file_key = std::string(peer_key) + "_file";
    std::size_t index = 0;
    for (const auto& item : node) {
      ++index;
      if (!item.IsMap()) {
        error(item, "a rule is a mapping (id, action, " + std::string(peer_key) + ", ports, protocol)");
        continue;
      }
      Rule rule;
      rule.direction = direction;
      rule.line = line_of(item);
      rule.id = list_name + "-" + std::to_string(index);
      bool have_action = false;
      bool peers_given = false;
      const std::size_t errors_before = diagnostics_.size();
      for (const auto& entry : item) {
        const std::string key = scalar_key(entry.first);
        if (key == "id") {
          if (auto id = scalar(entry.second, "id")) rule.id = *id;
        } else if (key == "action") {
          if (auto v = verdict(entry.second, "action")) {
            rule.verdict = *v;
            have_action = true;
          }
        } else if (key == peer_key) {
          peers_given = true;
          peer_list(entry.second, rule);
        } else if (key == peer_file_key) {
          peers_given = true;
          peer_file(entry.second, rule);
        } else if (key == "ports") {
          ports(entry.second, rule);
        } else if (key == "protocol") {
          auto text = scalar(entry.second, "protocol");
          if (!text) continue;
          if (*text == "tcp") rule.protocol = Protocol::tcp;
          else if (*text == "udp") rule.protocol = Protocol::udp;
          else if (*text == "icmp") rule.protocol = Protocol::icmp;
          else if (*text == "any") rule.protocol = Protocol::any;
          else error(entry.second, "protocol must be tcp, udp, icmp or any, not '" + *text + "'");
        } else {
          error(entry.first, "unknown rule key '" + key + "' (expected: id, action, " + peer_key + ", " +
                                 peer_file_key + ", ports, protocol)");
        }
      }
      if (!have_action) error(item, "rule '" + rule.id + "' has no action (allow or deny)");
      if (peers_given && rule.peers.empty() && rule.peer_subjects.empty() && diagnostics_.size() == errors_before)
        error(item, "rule '" + rule.id + "': its peer list is empty (write 'any' for every address)");
      if (rule.protocol == Protocol::icmp && !rule.ports.empty())
        error(item, "rule '" + rule.id + "': icmp has no ports");
      for (const auto& other : policy.rules) {
        if (other.id == rule.id) error(item, "rule id '" + rule.id + "' is used twice in policy '" + policy.name + "'");
      }
      policy.rules.push_back(std::move(rule));
    }
  }

  void host_deny(const YAML::Node& node, PolicySet& out) {
    if (!node.IsSequence()) return error(node, "'host_deny' must be a list of {id, from, from_file}");
    std::size_t index = 0;
    for (const auto& item : node) {
      ++index;
      if (!item.IsMap()) {
        error(item, "a host_deny entry is a mapping (id, from, from_file)");
        continue;
      }
      Rule peers;  // reuses the peer parsers
      HostDenyRule rule;
      rule.id = "host-deny-" + std::to_string(index);
      rule.file = file_;
      rule.line = line_of(item);
      for (const auto& entry : item) {
        const std::string key = scalar_key(entry.first);
        if (key == "id") {
          if (auto id = scalar(entry.second, "id")) rule.id = *id;
        } else if (key == "from") {
          peer_list(entry.second, peers);
        } else if (key == "from_file") {
          peer_file(entry.second, peers);
        } else {
          error(entry.first, "unknown host_deny key '" + key + "' (expected: id, from, from_file)");
        }
      }
      if (!peers.peer_subjects.empty()) error(item, "host_deny takes addresses, not subjects");
      if (peers.peers.empty()) error(item, "host_deny entry '" + rule.id + "' lists no address");
      rule.sources = std::move(peers.peers);
      out.host_deny.push_back(std::move(rule));
    }
  }

  void policy(const YAML::Node& node, PolicySet& out) {
    if (!node.IsMap()) return error(node, "a policy is a mapping (name, subject, mode, default, egress, ingress)");
    Policy policy;
    policy.file = file_;
    policy.line = line_of(node);
    bool have_subject = false;
    const bool failed_before = failed_;
    failed_ = false;
    // name first, so rule errors can name the policy.
    if (node["name"]) {
      if (auto name = scalar(node["name"], "name")) policy.name = *name;
    }
    for (const auto& entry : node) {
      const std::string key = scalar_key(entry.first);
      if (key == "name") continue;
      if (key == "mode") {
        auto text = scalar(entry.second, "mode");
        if (!text) continue;
        if (*text == "enforce") policy.mode = Mode::enforce;
        else if (*text == "audit") policy.mode = Mode::audit;
        else error(entry.second, "mode must be enforce or audit, not '" + *text + "'");
      } else if (key == "subject") {
        if (auto selector = subject(entry.second)) {
          policy.subject = *selector;
          have_subject = true;
        }
      } else if (key == "default") {
        if (entry.second.IsScalar()) {
          if (auto v = verdict(entry.second, "default")) policy.defaults = {*v, *v};
        } else if (entry.second.IsMap()) {
          for (const auto& d : entry.second) {
            const std::string direction = scalar_key(d.first);
            if (direction == "egress") {
              if (auto v = verdict(d.second, "default egress")) policy.defaults[0] = *v;
            } else if (direction == "ingress") {
              if (auto v = verdict(d.second, "default ingress")) policy.defaults[1] = *v;
            } else {
              error(d.first, "unknown default key '" + direction + "' (expected: egress, ingress)");
            }
          }
        } else {
          error(entry.second, "default must be allow, deny or {egress: ..., ingress: ...}");
        }
      } else if (key == "egress") {
        rules(entry.second, Direction::egress, policy);
      } else if (key == "ingress") {
        rules(entry.second, Direction::ingress, policy);
      } else {
        error(entry.first, "unknown policy key '" + key + "' (expected: name, mode, subject, default, egress, ingress)");
      }
    }
    if (policy.name.empty()) error(node, "a policy needs a name");
    if (!have_subject) error(node, "policy '" + policy.name + "' has no subject");
    const bool this_failed = failed_;
    failed_ = failed_before || this_failed;
    if (!this_failed) out.policies.push_back(std::move(policy));
  }

  const std::string& file_;
  std::vector<Diagnostic>& diagnostics_;
  const ParseOptions& options_;
  bool failed_ = false;
};

}  // namespace

std::size_t PolicySet::rule_count() const {
  std::size_t count = host_deny.size();
  for (const auto& policy : policies) count += policy.rules.size();
  return count;
}

void parse_policy_text(std::string_view text, const std::string& file_name, PolicySet& out,
                       std::vector<Diagnostic>& diagnostics, const ParseOptions& options) {
  Parser parser(file_name, diagnostics, options);
  PolicySet parsed;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    parser.document(root, parsed);
  } catch (const YAML::Exception& e) {
    diagnostics.push_back({file_name, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
    return;
  } catch (const std::exception& e) {
    diagnostics.push_back({file_name, 0, e.what()});
    return;
  }
  if (parser.failed()) return;
  for (auto& policy : parsed.policies) out.policies.push_back(std::move(policy));
  for (auto& rule : parsed.host_deny) out.host_deny.push_back(std::move(rule));
}

void check_policy_set(const PolicySet& set, std::vector<Diagnostic>& diagnostics) {
  std::set<std::string> names;
  for (const auto& policy : set.policies) {
    if (!names.insert(policy.name).second)
      diagnostics.push_back({policy.file, policy.line, "policy name '" + policy.name + "' is used twice"});
  }
  // Two policies for one subject may add rules, but must not disagree on its defaults.
  for (std::size_t i = 0; i < set.policies.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const Policy& a = set.policies[j];
      const Policy& b = set.policies[i];
      if (!(a.subject == b.subject)) continue;
      for (std::size_t d = 0; d < 2; ++d) {
        if (a.defaults[d] != Verdict::none && b.defaults[d] != Verdict::none && a.defaults[d] != b.defaults[d])
          diagnostics.push_back({b.file, b.line,
                                 "policy '" + b.name + "' sets the " + std::string(direction_name(Direction(d))) +
                                     " default of " + b.subject.to_string() + " to " +
                                     std::string(verdict_name(b.defaults[d])) + ", policy '" + a.name +
                                     "' sets it to " + std::string(verdict_name(a.defaults[d]))});
      }
    }
  }
}

PolicySet load_policy_files(const std::vector<std::string>& files, std::vector<Diagnostic>& diagnostics,
                            const ParseOptions& options) {
  PolicySet set;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      diagnostics.push_back({file, 0, "cannot read the file"});
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    parse_policy_text(text.str(), file, set, diagnostics, options);
  }
  check_policy_set(set, diagnostics);
  return set;
}

}  // namespace vigil::netpolicy
