// `vigil agent --check-config`: the agent's own start-up checks without starting anything,
// errors as file:line: error: what.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <string>

#include "agent/check_config.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

}  // namespace

TEST(AgentCheckConfig, TheShippedConfigIsValid) {
  const ConfigCheck check = check_config(std::string(VIGIL_SOURCE_DIR) + "/config/default.yaml");
  EXPECT_TRUE(check.ok()) << joined(check.errors);
  EXPECT_EQ(check.summary["mode"], "log");
  EXPECT_TRUE(check.summary["rules"]["enabled"].get<bool>());
  EXPECT_GT(check.summary["rules"]["loaded"].get<size_t>(), 10u);  // the built-in rules were compiled
}

TEST(AgentCheckConfig, AYamlErrorIsReportedAtItsLineAndNothingIsCreated) {
  test::TempDir dir;
  const std::string config = dir / "agent.yaml";
  test::write_text(config, "mode: log\nstate_dir: " + (dir / "state") + "\nwatch: [/]\nbogus_key: 1\n");
  const ConfigCheck check = check_config(config);
  ASSERT_EQ(check.errors.size(), 1u) << joined(check.errors);
  EXPECT_EQ(check.errors[0], config + ":4: error: unknown key 'bogus_key'");
  EXPECT_NE(::access((dir / "state").c_str(), F_OK), 0) << "checking created the state directory";
}

TEST(AgentCheckConfig, PolicyErrorsPointIntoThePolicyFile) {
  test::TempDir dir;
  const std::string policy = dir / "ima.policy";
  test::write_text(policy, "measure func=BPRM_CHECK\nappraise func=NO_SUCH_HOOK\n");
  const std::string config = dir / "agent.yaml";
  test::write_text(config, "state_dir: " + (dir / "state") + "\npolicy: " + policy + "\nwatch: [/]\n");
  const ConfigCheck check = check_config(config);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.errors[0].rfind(policy + ":2: error: ", 0), 0u) << joined(check.errors);
}

TEST(AgentCheckConfig, AMissingPolicyOrKeyringIsAnError) {
  test::TempDir dir;
  const std::string config = dir / "agent.yaml";
  test::write_text(config, "state_dir: " + (dir / "state") + "\npolicy: " + (dir / "missing.policy") + "\n");
  ConfigCheck check = check_config(config);
  ASSERT_FALSE(check.ok());
  EXPECT_NE(joined(check.errors).find("missing.policy"), std::string::npos) << joined(check.errors);

  test::write_text(config, "state_dir: " + (dir / "state") + "\npolicy_text: appraise func=BPRM_CHECK\n");
  check = check_config(config);
  ASSERT_FALSE(check.ok());
  EXPECT_NE(joined(check.errors).find("needs a 'default' keyring"), std::string::npos) << joined(check.errors);
}

TEST(AgentCheckConfig, DetectionRuleErrorsCarryTheRuleFilesLine) {
  test::TempDir dir;
  const std::string rules = dir / "local.yaml";
  test::write_text(rules, "- rule: broken\n  desc: x\n  condition: evt.type = open and and\n  output: x\n  priority: WARNING\n");
  const std::string config = dir / "agent.yaml";
  test::write_text(config, "state_dir: " + (dir / "state") + "\nruntime:\n  enabled: true\nrules:\n  files: [" + rules + "]\n");
  const ConfigCheck check = check_config(config);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.errors[0].rfind(rules + ":", 0), 0u) << joined(check.errors);
  EXPECT_NE(check.errors[0].find(": error: "), std::string::npos) << joined(check.errors);
}

TEST(AgentCheckConfig, UnreadableTlsFilesAreErrors) {
  test::TempDir dir;
  const std::string config = dir / "agent.yaml";
  test::write_text(config, "state_dir: " + (dir / "state") + "\nconsole:\n  tls_cert: " + (dir / "no.crt") +
                               "\n  tls_key: " + (dir / "no.key") + "\n");
  const ConfigCheck check = check_config(config);
  ASSERT_EQ(check.errors.size(), 2u) << joined(check.errors);
  EXPECT_NE(check.errors[0].find("console.tls_cert " + (dir / "no.crt")), std::string::npos);
}

TEST(AgentCheckConfig, AnUnreadableConfigIsAnError) {
  const ConfigCheck check = check_config("/nonexistent/agent.yaml");
  ASSERT_EQ(check.errors.size(), 1u);
  EXPECT_EQ(check.errors[0].rfind("/nonexistent/agent.yaml: error: ", 0), 0u) << check.errors[0];
}

TEST(AgentCheckConfig, DiagnosticLinesPutTheKindAfterTheLocation) {
  EXPECT_EQ(diagnostic_line("a.yaml:3: bad", "error", "c"), "a.yaml:3: error: bad");
  EXPECT_EQ(diagnostic_line("a.yaml:3:7: rule 'x': bad", "error", "c"), "a.yaml:3:7: error: rule 'x': bad");
  EXPECT_EQ(diagnostic_line("keyring 'k': cannot read", "warning", "c.yaml"), "c.yaml: warning: keyring 'k': cannot read");
}
