#include <gtest/gtest.h>

#include "ima/policy.h"

using namespace vigil::ima;

TEST(PolicyUnknownPath, PathRulesThatAddChecksApplyThoseThatRemoveThemDoNot) {
  auto parsed = parse_policy(
      "dont_appraise func=BPRM_CHECK path=/opt/trusted/**\n"
      "appraise func=BPRM_CHECK path=/opt/app/** appraise_type=imasig keyring=vendor\n",
      "t.policy");
  ASSERT_TRUE(parsed.ok());
  AccessContext access;
  access.func = PolicyFunc::bprm_check;
  access.mask = kMayExec;
  access.path = "/elsewhere/tool";
  EXPECT_FALSE(evaluate_policy(parsed.policy, access).appraise);
  access.path = "/opt/trusted/tool";
  EXPECT_FALSE(evaluate_policy(parsed.policy, access).appraise);
  // A file whose path cannot be read is neither exempted nor let through unappraised.
  access.path = "";
  access.path_unknown = true;
  const auto decision = evaluate_policy(parsed.policy, access);
  EXPECT_TRUE(decision.appraise);
  EXPECT_TRUE(decision.require_signature);
  EXPECT_EQ(decision.keyring, "vendor");
  EXPECT_EQ(decision.appraise_line, 2);
}
