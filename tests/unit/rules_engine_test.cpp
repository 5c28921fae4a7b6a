// Rule set behaviour: append/override across files, exceptions, outputs, actions, counters,
// the shipped fixture, a replayed event sequence, and (opt-in) Falco's own rules file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "rules_test_support.h"

using namespace vigil;
using vigil::test::decoded;
using vigil::test::evaluate;
using vigil::test::load_rules;

namespace {

std::vector<std::string> names(const std::vector<test::Hit>& hits) {
  std::vector<std::string> out;
  for (const auto& hit : hits) out.push_back(hit.rule);
  return out;
}

TEST(RulesEngine, AppendAndOverrideAcrossFiles) {
  const std::vector<rules::RuleSource> sources{
      {"base.yaml", R"(
- list: editors
  items: [vi]
- macro: writing
  condition: evt.is_open_write=true
- rule: Edit config
  desc: an editor writes below /etc
  condition: writing and fd.name startswith /etc/
  output: edit %fd.name
  priority: NOTICE
  tags: [a]
- rule: Disabled one
  desc: d
  condition: proc.name = cat
  output: o
  priority: INFO
  enabled: false
)"},
      {"local.yaml", R"(
- list: editors
  append: true
  items: [nano]
- macro: writing
  override:
    condition: append
  condition: and proc.name in (editors)
- rule: Edit config
  override:
    output: replace
    priority: replace
    tags: append
  output: config edited by %proc.name (%fd.name)
  priority: CRITICAL
  tags: [b]
- rule: Edit config
  append: true
  condition: and not fd.name = /etc/motd
- rule: Disabled one
  enabled: true
)"}};
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_sources(sources, report);
  ASSERT_TRUE(report.ok()) << test::all_diagnostics(report);
  EXPECT_EQ(report.loaded, 2u);
  EXPECT_EQ(report.enabled, 2u);
  auto nano = decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/hosts", 3, O_WRONLY, "nano"));
  auto hits = evaluate(set, *nano);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].output, "config edited by nano (/etc/hosts)");
  EXPECT_EQ(hits[0].priority, rules::Priority::critical);
  const auto summaries = set.rules();
  EXPECT_EQ(summaries[0].tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/motd", 3, O_WRONLY, "nano"))).empty());
  EXPECT_TRUE(evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/hosts", 3, O_WRONLY, "ed"))).empty());
  EXPECT_EQ(names(evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, "/x", 3, O_RDONLY, "cat")))),
            std::vector<std::string>{"Disabled one"});
}

TEST(RulesEngine, ExceptionsCompileToAndNot) {
  const std::string yaml = R"(
- list: allowed_dirs
  items: [/etc/ssl, /etc/pki]
- rule: r
  desc: d
  condition: evt.type = openat and fd.name startswith /etc
  output: hit
  priority: WARNING
  exceptions:
    - name: by_proc_and_dir
      fields: [proc.name, fd.directory]
      comps: [=, in]
      values:
        - [update-ca, [/etc/ssl/certs, /etc/pki/tls]]
    - name: by_name
      fields: proc.name
      values: [dpkg, "apt get"]
    - name: by_list
      fields: fd.name
      comps: pmatch
      values: [allowed_dirs]
    - name: empty
      fields: [proc.name]
)";
  rules::LoadReport report;
  rules::RuleSet set = load_rules(yaml, report);
  ASSERT_TRUE(report.ok()) << test::all_diagnostics(report);
  const auto hit = [&](std::string_view comm, std::string_view path) {
    return !evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, path, 3, O_RDONLY, comm))).empty();
  };
  EXPECT_TRUE(hit("cat", "/etc/hosts"));
  EXPECT_FALSE(hit("update-ca", "/etc/ssl/certs/a.pem"));
  EXPECT_TRUE(hit("update-ca", "/etc/hosts"));
  EXPECT_FALSE(hit("dpkg", "/etc/hosts"));
  EXPECT_FALSE(hit("apt get", "/etc/hosts"));
  EXPECT_FALSE(hit("cat", "/etc/pki/x"));

  rules::LoadReport bad;
  (void)load_rules(R"(
- rule: r
  desc: d
  condition: proc.name = x
  output: o
  priority: INFO
  exceptions:
    - name: mismatched
      fields: [proc.name, fd.name]
      values:
        - [a]
)", bad, "e.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].to_string(), "e.yaml:8: rule 'r' exception 'mismatched': a value has 1 entries for 2 fields");
}

TEST(RulesEngine, OutputFormatting) {
  rules::LoadReport report;
  rules::RuleSet set = load_rules(test::one_rule(
      "proc.name = cat", "%proc.name read %fd.name (%(evt.type)) 100%% sip=%fd.sip gp=%proc.aname[2]. img=%container.healthcheck end"), report);
  ASSERT_TRUE(report.ok()) << test::all_diagnostics(report);
  ASSERT_EQ(report.warnings.size(), 1u);  // the unsupported output field
  auto hits = evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/hosts", 3)));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].output, "cat read /etc/hosts (openat) 100% sip=<NA> gp=<NA>. img=<NA> end");
  ASSERT_EQ(hits[0].fields.size(), 6u);
  EXPECT_EQ(hits[0].fields[0], (std::pair<std::string, std::string>{"proc.name", "cat"}));
  EXPECT_EQ(hits[0].fields[2], (std::pair<std::string, std::string>{"evt.type", "openat"}));
  EXPECT_EQ(hits[0].fields[4], (std::pair<std::string, std::string>{"proc.aname[2]", "<NA>"}));
  rules::LoadReport bad;
  (void)load_rules(test::one_rule("proc.name = cat", "%proc.nope"), bad, "o.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].to_string(), "o.yaml:1: rule 'r': output: unknown field 'proc.nope'");
}

TEST(RulesEngine, ActionsCountersAndEnabling) {
  rules::LoadReport report;
  rules::RuleSet set = load_rules(test::one_rule("proc.name = cat") + "  action: kill\n", report);
  ASSERT_TRUE(report.ok()) << test::all_diagnostics(report);
  auto event = decoded(test::file_record(VIGIL_NR_openat, 1, "/x", 3));
  auto hits = evaluate(set, *event);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].action, rules::Action::kill);
  EXPECT_TRUE(set.set_enabled("r", false));
  EXPECT_TRUE(evaluate(set, *event).empty());
  EXPECT_FALSE(set.set_enabled("nope", true));
  EXPECT_TRUE(set.set_enabled("r", true));
  (void)evaluate(set, *event);
  const auto counters = set.counters();
  EXPECT_EQ(counters.events, 3u);
  EXPECT_EQ(counters.rule_evaluations, 2u);
  EXPECT_EQ(counters.matches, 2u);
  EXPECT_EQ(set.rule_counters()[0].matches, 2u);
}

TEST(RulesEngine, IndexedByEventType) {
  rules::LoadReport report;
  rules::RuleSet set = load_rules(test::one_rule("evt.type in (execve, execveat) and proc.name = cat"), report);
  ASSERT_TRUE(report.ok());
  auto open = decoded(test::file_record(VIGIL_NR_openat, 1, "/x", 3));
  EXPECT_TRUE(evaluate(set, *open).empty());
  EXPECT_EQ(set.counters().rule_evaluations, 0u);  // never even tried on an openat
  const auto summary = set.rules();
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_FALSE(summary[0].all_event_types);
  EXPECT_EQ(summary[0].event_types, (std::vector<events::EventType>{events::EventType::execve, events::EventType::execveat}));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(RulesFixture, FalcoStyleFileLoads) {
  const std::string path = std::string(VIGIL_SOURCE_DIR) + "/tests/data/rules/falco_style.yaml";
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(std::vector<std::string>{path}, report);
  EXPECT_TRUE(report.ok()) << test::all_diagnostics(report);
  // Only the audit-log rule (another source) is skipped: the image and Kubernetes fields its
  // other rules use exist now.
  EXPECT_EQ(report.loaded, 9u) << test::all_diagnostics(report);
  EXPECT_EQ(report.skipped, 1u) << test::all_diagnostics(report);
  EXPECT_EQ(report.enabled, 9u);
  std::size_t unsupported_warnings = 0;
  for (const auto& warning : report.warnings) {
    if (warning.message.find("does not support") != std::string::npos) ++unsupported_warnings;
  }
  EXPECT_EQ(unsupported_warnings, 0u) << test::all_diagnostics(report);

  test::RulesWorld world;
  // The secret read, its exceptions, and trusted readers.
  auto read_shadow = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc/shadow", 3, O_RDONLY, "bash"));
  auto hits = evaluate(set, *read_shadow, world.table.get());
  ASSERT_EQ(names(hits), std::vector<std::string>{"Read secret file"});
  // user.name of uid 1000 depends on the host's passwd.
  EXPECT_TRUE(hits[0].output.starts_with(
      "Secret file opened for reading (file=/etc/shadow process=bash parent=systemd command=bash user="))
      << hits[0].output;
  EXPECT_TRUE(hits[0].output.ends_with(" uid=1000 container=host)")) << hits[0].output;
  // Processes the table does not know (no exec name): proc.name is the header's comm.
  for (const char* exempt : {"sshd", "nscd", "unix_chkpwd", "backup-agent"}) {
    auto event = decoded(test::file_record(VIGIL_NR_openat, 4100, "/etc/sudoers", 3, O_RDONLY, exempt));
    EXPECT_TRUE(evaluate(set, *event, world.table.get()).empty()) << exempt;
  }
  // Writes below /etc, minus the appended exclusions.
  auto write = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc/hosts", 3, O_WRONLY | O_TRUNC, "bash"));
  EXPECT_EQ(names(evaluate(set, *write, world.table.get())), std::vector<std::string>{"Write below etc"});
  auto scratch = decoded(test::file_record(VIGIL_NR_openat, 100, "/etc/vigil-scratch/x", 3, O_WRONLY, "bash"));
  EXPECT_TRUE(evaluate(set, *scratch, world.table.get()).empty());
  auto dpkg = decoded(test::file_record(VIGIL_NR_openat, 4101, "/etc/hosts", 3, O_WRONLY, "dpkg"));
  EXPECT_TRUE(evaluate(set, *dpkg, world.table.get()).empty());
}

// Falco's own rules file, when VIGIL_FALCO_RULES names it: loads without errors and prints
// what it skipped and why.
TEST(RulesFixture, FalcoRulesFileWhenGiven) {
  const char* path = std::getenv("VIGIL_FALCO_RULES");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "set VIGIL_FALCO_RULES to Falco's falco_rules.yaml";
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(std::vector<std::string>{path}, report);
  std::printf("falco rules: %zu loaded (%zu enabled), %zu skipped, %zu failed, %zu errors, %zu warnings\n",
              report.loaded, report.enabled, report.skipped, report.failed, report.errors.size(),
              report.warnings.size());
  for (const auto& d : report.errors) std::printf("error: %s\n", d.to_string().c_str());
  for (const auto& d : report.warnings) std::printf("warning: %s\n", d.to_string().c_str());
  EXPECT_TRUE(report.ok());
  EXPECT_GT(report.loaded, 0u);
  (void)set.interest();
}

// A short life of a shell: seeded world, fork, exec, a reverse shell's connect and dup2s,
// evaluated before each event is applied to the table, as the agent does.
TEST(RulesReplay, ReverseShellInContainer) {
  test::RulesWorld world;
  const std::string yaml = read_file(std::string(VIGIL_SOURCE_DIR) + "/tests/data/rules/falco_style.yaml");
  rules::LoadReport report;
  rules::RuleSet set = load_rules(yaml, report, "falco_style.yaml");
  ASSERT_TRUE(report.ok());

  std::vector<test::DecodedRecord> sequence;
  auto fork = test::make_fork(300, 301);
  fork.header.ppid = 1;
  sequence.push_back(decoded(fork));
  auto exec = test::make_exec(301, "/bin/bash", {"bash", "-i"});
  exec.header.ppid = 300;
  std::memcpy(exec.header.comm, "bash\0", 5);
  sequence.push_back(decoded(exec));
  auto execve = test::make_execve_syscall(301, "/bin/bash", 0, {"bash", "-i"});
  execve.header.ppid = 300;
  std::memcpy(execve.header.comm, "bash\0", 5);
  sequence.push_back(decoded(execve));
  auto socket = test::net_record(VIGIL_NR_socket, 301, -1, 3, "bash");
  socket.header.ppid = 300;
  socket.domain = AF_INET;
  socket.type = SOCK_STREAM;
  sequence.push_back(decoded(socket));
  auto connect = test::net_record(VIGIL_NR_connect, 301, 3, 0, "bash");
  connect.header.ppid = 300;
  test::set_v4(connect.local, 172, 17, 0, 2, 40000);
  test::set_v4(connect.remote, 203, 0, 113, 9, 4444);
  sequence.push_back(decoded(connect));
  for (std::uint64_t target : {0, 1, 2}) {
    auto dup = test::proc_record(VIGIL_NR_dup2, 301, static_cast<std::int64_t>(target), {3, target}, "bash");
    dup.header.ppid = 300;
    sequence.push_back(decoded(dup));
  }
  auto exit = test::make_exit(301, 0);
  sequence.push_back(decoded(exit));

  std::vector<std::string> seen;
  for (const auto& event : sequence) {
    for (const auto& hit : evaluate(set, *event, world.table.get())) seen.push_back(hit.rule + ": " + hit.output);
    world.table->apply(*event);
  }
  ASSERT_EQ(seen.size(), 4u) << ::testing::PrintToString(seen);
  EXPECT_EQ(seen[0], "Outbound to public network: Outbound connection (connection=172.17.0.2:40000->203.0.113.9:4444 "
                     "server=203.0.113.9:4444 process=bash)");
  EXPECT_EQ(seen[1], "Redirect stdio to network: Standard stream redirected to the network (fd=0 "
                     "connection=172.17.0.2:40000->203.0.113.9:4444 process=bash)");
  EXPECT_NE(seen[3].find("fd=2"), std::string::npos);
}

}  // namespace
