#include <gtest/gtest.h>

#include <thread>
#include <tuple>

#include "agent/config.h"
#include "agent/decision_cache.h"

using namespace vigil;
using namespace vigil::agent;

TEST(AgentConfig, EmptyIsTheSafeDefault) {
  auto config = parse_config("", "empty.yaml");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->mode, Mode::log);
  EXPECT_TRUE(on_timeout_allows(*config));
  EXPECT_EQ(config->watch_marks, WatchMarks::filesystem);
  EXPECT_EQ(workers_per_uid(*config), 1u);
  EXPECT_EQ(config->tpm, "none");
  EXPECT_EQ(config->audit_log, "/var/lib/vigil/audit.jsonl");
}

TEST(AgentConfig, ShippedDefaultParsesAndIsLogMode) {
  std::string repo = __FILE__;
  repo = repo.substr(0, repo.rfind("/tests/"));
  auto config = load_config(repo + "/config/default.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->mode, Mode::log);
  EXPECT_EQ(config->watch, std::vector<std::string>{"/"});
  EXPECT_EQ(config->deadline_ms, 250u);
}

TEST(AgentConfig, EverySetting) {
  auto config = parse_config(
      "mode: enforce\nstate_dir: /s\nhash: sm3\ntpm: swtpm:host=127.0.0.1,port=2321\n"
      "keyrings:\n  default: /k\n  vendor: /v\nwatch: [/a, /b]\n"
      "watch_marks: mount\n"
      "decision:\n  workers: 4\n  workers_per_uid: 3\n  deadline_ms: 50\n  on_timeout: deny\n  cache_entries: 10\n"
      "  measured_versions: 7\n"
      "policy_text: |\n  measure func=BPRM_CHECK\n",
      "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->mode, Mode::enforce);
  EXPECT_EQ(config->hash, crypto::HashAlgo::sm3);
  EXPECT_EQ(config->keyrings.at("vendor"), "/v");
  EXPECT_EQ(config->watch.size(), 2u);
  EXPECT_EQ(config->workers, 4u);
  EXPECT_EQ(config->deadline_ms, 50u);
  EXPECT_FALSE(on_timeout_allows(*config));
  EXPECT_EQ(config->watch_marks, WatchMarks::mount);
  EXPECT_EQ(workers_per_uid(*config), 3u);
  EXPECT_EQ(config->cache_entries, 10u);
  EXPECT_EQ(config->measured_versions, 7u);
  EXPECT_EQ(config->policy_text, "measure func=BPRM_CHECK\n");
  EXPECT_EQ(config->audit_log, "/s/audit.jsonl");
}

TEST(AgentConfig, OnTimeoutDefaultsToDenyInEnforceModeOnly) {
  const auto allows = [](const std::string& yaml) {
    auto config = parse_config(yaml, "c.yaml");
    EXPECT_TRUE(config) << config.error().message;
    return on_timeout_allows(*config);
  };
  EXPECT_FALSE(allows("mode: enforce\n"));
  EXPECT_TRUE(allows("mode: log\n"));
  EXPECT_TRUE(allows("mode: fix\n"));
  EXPECT_TRUE(allows("mode: enforce\ndecision:\n  on_timeout: allow\n"));
  EXPECT_FALSE(allows("mode: log\ndecision:\n  on_timeout: deny\n"));
  // `vigil agent --mode enforce` overrides the mode after parsing: the default follows it.
  auto config = parse_config("mode: log\n", "c.yaml");
  ASSERT_TRUE(config);
  config->mode = Mode::enforce;
  EXPECT_FALSE(on_timeout_allows(*config));
}

TEST(AgentConfig, WorkersPerUidIsAtLeastOneAndAtMostAllWorkers) {
  AgentConfig config;
  for (auto [workers, wanted, expected] : {std::tuple{1u, 0u, 1u}, {2u, 0u, 1u}, {3u, 0u, 2u}, {8u, 0u, 4u},
                                           {2u, 5u, 2u}, {4u, 1u, 1u}}) {
    config.workers = workers;
    config.workers_per_uid = wanted;
    EXPECT_EQ(workers_per_uid(config), expected) << workers << " " << wanted;
  }
}

TEST(AgentConfig, ErrorsNameFileLineAndExpectation) {
  auto expect_error = [](const std::string& yaml, const std::string& fragment) {
    auto config = parse_config(yaml, "bad.yaml");
    ASSERT_FALSE(config) << yaml;
    EXPECT_NE(config.error().message.find(fragment), std::string::npos) << config.error().message;
  };
  expect_error("mode: strict\n", "bad.yaml:1: mode must be enforce, log or fix, got 'strict'");
  expect_error("mode: log\nwatch: relative\n", "bad.yaml:2: watch must be a list");
  expect_error("watch: [relative]\n", "watch entries must be absolute");
  expect_error("decision:\n  workers: 0\n", "bad.yaml:2: decision.workers must be a whole number from 1 to 64");
  expect_error("decision:\n  deadline_ms: -5\n", "decision.deadline_ms must be a whole number");
  expect_error("decision:\n  on_timeout: maybe\n", "on_timeout must be allow or deny");
  expect_error("decision:\n  speed: 3\n", "unknown key 'decision.speed'");
  expect_error("watch_marks: inode\n", "bad.yaml:1: watch_marks must be filesystem or mount, got 'inode'");
  expect_error("decision:\n  measured_versions: 0\n", "decision.measured_versions must be a whole number from 1");
  expect_error("decision:\n  workers_per_uid: 0\n", "decision.workers_per_uid must be a whole number from 1 to 64");
  expect_error("colour: red\n", "bad.yaml:1: unknown key 'colour'");
  expect_error("hash: md5\n", "hash must be sha256, sm3");
  expect_error("mode: [a\n", "bad.yaml:");
  expect_error("- just\n- a list\n", "must be a mapping");
}

TEST(DecisionCache, VersionsProfilesAndInvalidation) {
  DecisionCache cache(100);
  FileVersion v1{1, 42, 1000, 5, 10};
  FileVersion v2 = v1;
  v2.ctime_nsec = 6;
  Appraisal pass{true, Cause::none, ima::VerifyStatus::ok, 7};
  cache.store(v1, 1, pass, cache.epoch());
  EXPECT_TRUE(cache.find(v1, 1));
  EXPECT_FALSE(cache.find(v1, 2));   // another keyring / signature requirement
  EXPECT_FALSE(cache.find(v2, 1));   // the file changed
  cache.store(v2, 1, pass, cache.epoch());
  EXPECT_FALSE(cache.find(v1, 1));   // the older version is gone
  cache.invalidate(1, 42);
  EXPECT_FALSE(cache.find(v2, 1));
  EXPECT_EQ(cache.size(), 0u);

  EXPECT_TRUE(cache.claim_measurement(v1, ima::TemplateName::ima_ng, 10));
  EXPECT_FALSE(cache.is_measured(v1, ima::TemplateName::ima_ng, 10));  // claimed, not yet in the list
  EXPECT_FALSE(cache.claim_measurement(v1, ima::TemplateName::ima_ng, 10));
  cache.mark_measured(v1, ima::TemplateName::ima_ng, 10);
  EXPECT_TRUE(cache.is_measured(v1, ima::TemplateName::ima_ng, 10));
  EXPECT_TRUE(cache.claim_measurement(v1, ima::TemplateName::ima_sig, 10));
  EXPECT_TRUE(cache.claim_measurement(v2, ima::TemplateName::ima_ng, 10));
  cache.release_measurement(v1, ima::TemplateName::ima_ng, 10);
  EXPECT_TRUE(cache.claim_measurement(v1, ima::TemplateName::ima_ng, 10));
}

TEST(DecisionCache, VerdictComputedBeforeAClearIsNotStored) {
  DecisionCache cache(100);
  FileVersion v{1, 42, 1000, 5, 10};
  Appraisal pass{true, Cause::none, ima::VerifyStatus::ok, 7};
  const uint64_t before = cache.epoch();
  cache.clear();  // e.g. SIGHUP removed the signing key while the verdict was being computed
  cache.store(v, 1, pass, before);
  EXPECT_FALSE(cache.find(v, 1));
  const uint64_t again = cache.epoch();
  cache.invalidate(9, 9);  // a write anywhere also voids verdicts in flight
  cache.store(v, 1, pass, again);
  EXPECT_FALSE(cache.find(v, 1));
  cache.store(v, 1, pass, cache.epoch());
  EXPECT_TRUE(cache.find(v, 1));
}

TEST(DecisionCache, BoundedByCapacity) {
  DecisionCache cache(3);
  Appraisal pass{true, Cause::none, ima::VerifyStatus::ok, 0};
  for (uint64_t inode = 0; inode < 10; ++inode) cache.store(FileVersion{1, inode, 0, 0, 0}, 0, pass, cache.epoch());
  EXPECT_LE(cache.size(), 3u);
  DecisionCache disabled(0);
  disabled.store(FileVersion{}, 0, pass, disabled.epoch());
  EXPECT_FALSE(disabled.find(FileVersion{}, 0));
}

TEST(AgentConfig, RulesAndOutputsDefaults) {
  auto config = parse_config("runtime:\n  enabled: true\n", "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->runtime.rules.enabled);
  EXPECT_TRUE(config->runtime.rules.files.empty()) << "empty: the built-in default ruleset";
  EXPECT_TRUE(config->runtime.rules.kill);
  EXPECT_TRUE(config->runtime.rules.kernel_path_filter);
  EXPECT_FALSE(config->runtime.outputs_given);
  EXPECT_FALSE(config->runtime.all_syscalls);
  EXPECT_EQ(config->runtime.state_dir, "/var/lib/vigil");
}

TEST(AgentConfig, RulesAndOutputsSettings) {
  auto config = parse_config(
      "state_dir: /s\nruntime:\n  enabled: true\n  syscalls: [all]\n"
      "rules:\n  enabled: true\n  files: [/r/a.yaml, /r/b.yaml]\n  kill: false\n  kernel_path_filter: false\n"
      "outputs:\n  - type: file\n    path: /s/alerts.jsonl\n    min_priority: warning\n",
      "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->runtime.rules.files, (std::vector<std::string>{"/r/a.yaml", "/r/b.yaml"}));
  EXPECT_FALSE(config->runtime.rules.kill);
  EXPECT_FALSE(config->runtime.rules.kernel_path_filter);
  EXPECT_TRUE(config->runtime.all_syscalls);
  EXPECT_TRUE(config->runtime.outputs_given);
  ASSERT_EQ(config->runtime.outputs.outputs.size(), 1u);
  EXPECT_EQ(config->runtime.state_dir, "/s");
}

TEST(AgentConfig, BadRulesSettingsNameTheirLine) {
  auto flag = parse_config("runtime:\n  enabled: true\nrules:\n  kill: maybe\n", "c.yaml");
  ASSERT_FALSE(flag);
  EXPECT_NE(flag.error().message.find("c.yaml:4"), std::string::npos) << flag.error().message;
  EXPECT_NE(flag.error().message.find("rules.kill"), std::string::npos) << flag.error().message;
  auto unknown = parse_config("rules:\n  file: [/x]\n", "c.yaml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("rules.file"), std::string::npos) << unknown.error().message;
  auto output = parse_config("outputs:\n  - type: carrier-pigeon\n", "c.yaml");
  ASSERT_FALSE(output);
  EXPECT_NE(output.error().message.find("c.yaml:2"), std::string::npos) << output.error().message;
}

TEST(AgentConfig, ConsoleDefaults) {
  auto config = parse_config("state_dir: /s\n", "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->console.enabled);
  EXPECT_EQ(config->console.address, "127.0.0.1");
  EXPECT_EQ(config->console.port, 7373);
  EXPECT_EQ(config->console.token_file, "/s/console.token");
  EXPECT_EQ(config->console.store_path, "/s/console.db");
  EXPECT_TRUE(config->console.tls_cert.empty());
  EXPECT_EQ(config->console.max_age_hours, 168u);
  EXPECT_FALSE(config->console.token_for_loopback);
  EXPECT_TRUE(config->console.allowed_hosts.empty());
  EXPECT_EQ(config->console.max_connections, 64);
  EXPECT_EQ(config->console.max_connections_per_peer, 16);
}

TEST(AgentConfig, ConsoleSettings) {
  auto config = parse_config(
      "console:\n  listen: '[::1]:0'\n  tls_cert: /c.pem\n  tls_key: /k.pem\n  token_file: /t\n"
      "  events_sampled_per_bucket: 0\n  store:\n    path: /db\n    max_age_hours: 2\n    max_size_mb: 3\n",
      "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->console.address, "::1");
  EXPECT_EQ(config->console.port, 0);
  EXPECT_EQ(config->console.tls_cert, "/c.pem");
  EXPECT_EQ(config->console.tls_key, "/k.pem");
  EXPECT_EQ(config->console.token_file, "/t");
  EXPECT_EQ(config->console.events_sampled_per_bucket, 0u);
  EXPECT_EQ(config->console.store_path, "/db");
  EXPECT_EQ(config->console.max_age_hours, 2u);
  EXPECT_EQ(config->console.max_size_bytes, std::uint64_t{3} << 20);
  auto guarded = parse_config(
      "console:\n  token_for_loopback: true\n  allowed_hosts: [console.example.org, '192.0.2.7']\n"
      "  max_connections: 200\n  max_connections_per_peer: 4\n",
      "c.yaml");
  ASSERT_TRUE(guarded) << guarded.error().message;
  EXPECT_TRUE(guarded->console.token_for_loopback);
  EXPECT_EQ(guarded->console.allowed_hosts, (std::vector<std::string>{"console.example.org", "192.0.2.7"}));
  EXPECT_EQ(guarded->console.max_connections, 200);
  EXPECT_EQ(guarded->console.max_connections_per_peer, 4);
  auto off = parse_config("console:\n  enabled: false\n", "c.yaml");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->console.enabled);
}

TEST(AgentConfig, BadConsoleSettingsNameTheirLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"console:\n  listen: localhost:80\n", "c.yaml:2: console.listen: 'localhost' is not an IP address"},
      {"console:\n  listen: 127.0.0.1:70000\n", "c.yaml:2: console.listen: port must be 0..65535"},
      {"console:\n  listen: 127.0.0.1\n", "c.yaml:2: console.listen: expected address:port"},
      {"console:\n  enabled: maybe\n", "c.yaml:2: console.enabled must be true or false"},
      {"console:\n  tls_cert: /c\n", "c.yaml:2: console.tls_cert and console.tls_key go together"},
      {"console:\n  port: 1\n", "c.yaml:2: unknown key 'console.port'"},
      {"console:\n  store:\n    max_size_mb: 0\n", "c.yaml:3: console.store.max_size_mb must be a whole number"},
      {"console:\n  store:\n    keep: 1\n", "c.yaml:3: unknown key 'console.store.keep'"},
      {"console: [1]\n", "c.yaml:1: console must be a mapping"},
      {"console:\n  token_for_loopback: yes\n", "c.yaml:2: console.token_for_loopback must be true or false"},
      {"console:\n  allowed_hosts: console.example.org\n", "c.yaml:2: console.allowed_hosts must be a list"},
      {"console:\n  allowed_hosts: ['a b']\n", "c.yaml:2: console.allowed_hosts: 'a b' is not a host name"},
      {"console:\n  max_connections: 0\n", "c.yaml:2: console.max_connections must be a whole number from 1"},
      {"console:\n  max_connections_per_peer: 5000\n", "c.yaml:2: console.max_connections_per_peer must be"},
  };
  for (const auto& [text, expected] : cases) {
    auto config = parse_config(text, "c.yaml");
    ASSERT_FALSE(config) << text;
    EXPECT_NE(config.error().message.find(expected), std::string::npos) << text << " -> " << config.error().message;
  }
}

TEST(DecisionCache, MeasuredVersionsAreBoundedAndAForgottenOneIsMeasuredAgain) {
  DecisionCache cache(100, 3);
  const auto version = [](uint64_t inode) { return FileVersion{1, inode, 0, 0, 0}; };
  const auto measure = [&](uint64_t inode) {
    if (!cache.claim_measurement(version(inode), ima::TemplateName::ima_ng, 10)) return false;
    cache.mark_measured(version(inode), ima::TemplateName::ima_ng, 10);
    return true;
  };
  for (uint64_t inode = 1; inode <= 3; ++inode) EXPECT_TRUE(measure(inode));
  EXPECT_EQ(cache.measured_versions().size, 3u);
  EXPECT_TRUE(cache.is_measured(version(1), ima::TemplateName::ima_ng, 10));  // 1 is in use: a second chance
  EXPECT_TRUE(measure(4));                   // over the bound: 2, the oldest not looked up since, goes
  EXPECT_EQ(cache.measured_versions().size, 3u);
  EXPECT_EQ(cache.measured_versions().evicted, 1u);
  EXPECT_FALSE(cache.is_measured(version(2), ima::TemplateName::ima_ng, 10));
  EXPECT_TRUE(cache.is_measured(version(1), ima::TemplateName::ima_ng, 10));
  EXPECT_FALSE(measure(1));                  // still remembered: not measured twice
  EXPECT_TRUE(measure(2));                   // forgotten: measured again (a new entry in the list)
  EXPECT_EQ(cache.measured_versions().evicted, 2u);
  EXPECT_EQ(cache.measured_versions().capacity, 3u);
}

TEST(DecisionCache, MeasurementsInProgressAreNeverForgotten) {
  DecisionCache cache(100, 2);
  const auto version = [](uint64_t inode) { return FileVersion{1, inode, 0, 0, 0}; };
  // Claimed, not yet in the list: forgetting one would let a second worker measure it too.
  for (uint64_t inode = 1; inode <= 4; ++inode) EXPECT_TRUE(cache.claim_measurement(version(inode), ima::TemplateName::ima_ng, 10));
  EXPECT_EQ(cache.measured_versions().size, 4u);
  EXPECT_EQ(cache.measured_versions().evicted, 0u);
  for (uint64_t inode = 1; inode <= 4; ++inode) EXPECT_FALSE(cache.claim_measurement(version(inode), ima::TemplateName::ima_ng, 10));
  for (uint64_t inode = 1; inode <= 4; ++inode) cache.mark_measured(version(inode), ima::TemplateName::ima_ng, 10);
  EXPECT_TRUE(cache.claim_measurement(version(5), ima::TemplateName::ima_ng, 10));
  EXPECT_EQ(cache.measured_versions().size, 2u);  // back at the bound once they were recorded
}

TEST(DecisionCache, ReleasedClaimsDoNotGrowTheClock) {
  DecisionCache cache(100, 4);
  const FileVersion huge{1, 99, 0, 0, 0};
  // A file whose hash is abandoned every time (a stalled 16 TiB exec, again and again).
  for (int round = 0; round < 100000; ++round) {
    ASSERT_TRUE(cache.claim_measurement(huge, ima::TemplateName::ima_ng, 10));
    cache.release_measurement(huge, ima::TemplateName::ima_ng, 10);
  }
  EXPECT_EQ(cache.measured_versions().size, 0u);
  EXPECT_EQ(cache.measured_versions().evicted, 0u);
  EXPECT_LE(cache.measured_versions().clock_entries, 64u);
}

TEST(DecisionCache, ASecondClaimWaitsForTheFirstToRecordOrGiveUp) {
  DecisionCache cache(100, 100);
  const FileVersion version{1, 7, 0, 0, 0};
  ASSERT_EQ(cache.claim_or_wait(version, ima::TemplateName::ima_ng, 10, nullptr), DecisionCache::Claim::claimed);
  // Held by the first: the second gives up when told to, without claiming.
  int asked = 0;
  EXPECT_EQ(cache.claim_or_wait(version, ima::TemplateName::ima_ng, 10, [&] { return ++asked > 3; }),
            DecisionCache::Claim::abandoned);
  EXPECT_GE(asked, 4);
  // Recorded while the second waits: it returns as soon as the entry is in the list.
  std::thread first([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cache.mark_measured(version, ima::TemplateName::ima_ng, 10);
  });
  EXPECT_EQ(cache.claim_or_wait(version, ima::TemplateName::ima_ng, 10, nullptr), DecisionCache::Claim::recorded);
  first.join();
  // Given up by the first (its hash was abandoned): the waiting one takes the claim over.
  const FileVersion other{1, 8, 0, 0, 0};
  ASSERT_TRUE(cache.claim_measurement(other, ima::TemplateName::ima_ng, 10));
  std::thread giving_up([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cache.release_measurement(other, ima::TemplateName::ima_ng, 10);
  });
  EXPECT_EQ(cache.claim_or_wait(other, ima::TemplateName::ima_ng, 10, nullptr), DecisionCache::Claim::claimed);
  giving_up.join();
}

TEST(AgentConfig, MeasurementPcrAndKernelList) {
  auto defaults = parse_config("mode: log\n", "c.yaml");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->measurement.pcr, 10u);
  EXPECT_EQ(defaults->measurement.kernel_list, "/sys/kernel/security/ima/ascii_runtime_measurements");
  auto set = parse_config("measurement:\n  pcr: 15\n  kernel_list: /tmp/k\n", "c.yaml");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->measurement.pcr, 15u);
  EXPECT_EQ(set->measurement.kernel_list, "/tmp/k");
  for (const char* bad : {"measurement:\n  pcr: 7\n", "measurement:\n  pcr: 24\n"}) {
    auto refused = parse_config(bad, "bad.yaml");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("bad.yaml:2: measurement.pcr must be a whole number from 8 to 23"),
              std::string::npos)
        << refused.error().message;
  }
  auto unknown = parse_config("measurement:\n  bank: sha1\n", "bad.yaml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown key 'measurement.bank'"), std::string::npos);
}

TEST(AgentConfig, NetPolicySection) {
  auto config = parse_config(
      "netpolicy:\n  enabled: true\n  files: [/etc/vigil/a.yaml, b.yaml]\n  mode: audit\n  pin_dir: /sys/fs/bpf/x\n"
      "  cgroup: /sys/fs/cgroup/unified/kubepods\n  host_interfaces: [eth0]\n  resolve_interval_ms: 500\n",
      "n.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->netpolicy.enabled);
  EXPECT_EQ(config->netpolicy.files, (std::vector<std::string>{"/etc/vigil/a.yaml", "b.yaml"}));
  EXPECT_TRUE(config->netpolicy.audit_all);
  EXPECT_EQ(config->netpolicy.pin_dir, "/sys/fs/bpf/x");
  EXPECT_EQ(config->netpolicy.host_interfaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(config->netpolicy.resolve_interval_ms, 500u);
  auto bad = parse_config("netpolicy:\n  enabled: true\n  filez: [a]\n", "n.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("n.yaml:3: unknown key 'netpolicy.filez'"), std::string::npos) << bad.error().message;
  auto no_files = parse_config("netpolicy:\n  enabled: true\n", "n.yaml");
  ASSERT_FALSE(no_files);
  auto bad_mode = parse_config("netpolicy:\n  mode: loud\n", "n.yaml");
  ASSERT_FALSE(bad_mode);
  EXPECT_NE(bad_mode.error().message.find("n.yaml:2"), std::string::npos);
}
