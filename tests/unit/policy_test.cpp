#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ima/policy.h"
#include "support/test_support.h"

namespace {

using namespace vigil::ima;

PolicyParse parse(std::string_view text) { return parse_policy(text, "test.policy"); }

// The one rule of a policy that must parse cleanly and without warnings.
PolicyRule one_rule(std::string_view text) {
  const PolicyParse result = parse(text);
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].text());
  EXPECT_TRUE(result.warnings.empty()) << (result.warnings.empty() ? "" : result.warnings[0].text());
  EXPECT_EQ(result.policy.rules.size(), 1u);
  return result.policy.rules.empty() ? PolicyRule{} : result.policy.rules[0];
}

// The single error a one-line policy produces: its message (and it must be on line 1).
std::string one_error(std::string_view text) {
  const PolicyParse result = parse(text);
  EXPECT_EQ(result.errors.size(), 1u) << text;
  EXPECT_TRUE(result.policy.rules.empty()) << "a rule with an error must not be kept: " << text;
  if (result.errors.empty()) return "";
  EXPECT_EQ(result.errors[0].line, 1);
  return result.errors[0].message;
}

// The single warning a one-line policy produces; the rule itself parses.
std::string one_warning(std::string_view text) {
  const PolicyParse result = parse(text);
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].text());
  EXPECT_EQ(result.warnings.size(), 1u) << text;
  EXPECT_EQ(result.policy.rules.size(), 1u);
  if (result.warnings.empty()) return "";
  EXPECT_EQ(result.warnings[0].line, 1);
  return result.warnings[0].message;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::filesystem::path repo_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

// ---------------------------------------------------------------------------------------
// Parsing: each construct

TEST(PolicyParse, EveryAction) {
  const PolicyParse result = parse("measure\ndont_measure\nappraise\ndont_appraise\naudit\nhash\ndont_hash\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.policy.rules.size(), 7u);
  const PolicyAction expected[] = {PolicyAction::measure,       PolicyAction::dont_measure, PolicyAction::appraise,
                                   PolicyAction::dont_appraise, PolicyAction::audit,        PolicyAction::hash,
                                   PolicyAction::dont_hash};
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(result.policy.rules[i].action, expected[i]);
    EXPECT_EQ(result.policy.rules[i].line, static_cast<int>(i + 1));
    EXPECT_FALSE(result.policy.rules[i].inert);
  }
}

TEST(PolicyParse, AllConditionsOfOneRule) {
  const PolicyRule rule = one_rule(
      "appraise func=BPRM_CHECK mask=^MAY_EXEC uid=1 euid<2 gid>3 egid=4 fowner<5 fgroup>6 fsmagic=0x9fa0 "
      "fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6 fsname=ext4 path=/opt/app/** keyring=vendor appraise_type=imasig");
  EXPECT_EQ(rule.action, PolicyAction::appraise);
  EXPECT_EQ(rule.func, PolicyFunc::bprm_check);
  EXPECT_EQ(rule.func_name, "BPRM_CHECK");
  EXPECT_EQ(rule.mask, kMayExec);
  EXPECT_TRUE(rule.mask_any);
  ASSERT_TRUE(rule.uid && rule.euid && rule.gid && rule.egid && rule.fowner && rule.fgroup);
  EXPECT_EQ(rule.uid->op, IdOp::equal);
  EXPECT_EQ(rule.uid->value, 1u);
  EXPECT_EQ(rule.euid->op, IdOp::less);
  EXPECT_EQ(rule.euid->value, 2u);
  EXPECT_EQ(rule.gid->op, IdOp::greater);
  EXPECT_EQ(rule.gid->value, 3u);
  EXPECT_EQ(rule.egid->op, IdOp::equal);
  EXPECT_EQ(rule.egid->value, 4u);
  EXPECT_EQ(rule.fowner->op, IdOp::less);
  EXPECT_EQ(rule.fowner->value, 5u);
  EXPECT_EQ(rule.fgroup->op, IdOp::greater);
  EXPECT_EQ(rule.fgroup->value, 6u);
  EXPECT_EQ(rule.fsmagic, 0x9fa0u);
  const std::array<uint8_t, 16> uuid = {0x8b, 0xcb, 0xe3, 0x94, 0x4f, 0x13, 0x41, 0x44,
                                        0xbe, 0x8e, 0x5a, 0xa9, 0xea, 0x2c, 0xe2, 0xf6};
  EXPECT_EQ(rule.fsuuid, uuid);
  EXPECT_EQ(rule.fsname, "ext4");
  EXPECT_EQ(rule.path_glob, "/opt/app/**");
  EXPECT_EQ(rule.keyring, "vendor");
  EXPECT_TRUE(rule.appraise_imasig);
  EXPECT_FALSE(rule.template_name);
  EXPECT_FALSE(rule.pcr);
  EXPECT_FALSE(rule.inert);
}

TEST(PolicyParse, TokensSeparatedByAnyWhitespaceAndCrlf) {
  const PolicyParse result = parse("  \tmeasure\t func=BPRM_CHECK   uid=5\r\n\r\nappraise\r\n");
  ASSERT_TRUE(result.ok()) << result.errors[0].text();
  ASSERT_EQ(result.policy.rules.size(), 2u);
  EXPECT_EQ(result.policy.rules[0].func, PolicyFunc::bprm_check);
  EXPECT_EQ(result.policy.rules[0].uid->value, 5u);
  EXPECT_EQ(result.policy.rules[1].line, 3);
}

TEST(PolicyParse, BlankLinesAndCommentsIgnoredButCounted) {
  const PolicyParse result = parse("# header\n\n   # indented comment\n\t\nmeasure func=BPRM_CHECK\n#measure\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.policy.rules.size(), 1u);
  EXPECT_EQ(result.policy.rules[0].line, 5);
  EXPECT_TRUE(parse("").policy.rules.empty());
  EXPECT_TRUE(parse("").ok());
  EXPECT_TRUE(parse("\n\n# only comments\n").policy.rules.empty());
  // No trailing newline on the last rule.
  EXPECT_EQ(parse("measure\nappraise").policy.rules.size(), 2u);
}

TEST(PolicyParse, UserSpaceFuncsAndAliases) {
  EXPECT_EQ(one_rule("measure func=BPRM_CHECK").func, PolicyFunc::bprm_check);
  EXPECT_EQ(one_rule("measure func=FILE_CHECK").func, PolicyFunc::file_check);
  EXPECT_EQ(one_rule("measure func=MMAP_CHECK").func, PolicyFunc::mmap_check);
  const PolicyRule alias = one_rule("measure func=FILE_MMAP");
  EXPECT_EQ(alias.func, PolicyFunc::mmap_check);
  EXPECT_EQ(alias.func_name, "FILE_MMAP");
  EXPECT_EQ(one_rule("measure func=PATH_CHECK").func, PolicyFunc::file_check);
}

TEST(PolicyParse, KernelOnlyFuncsAreInertWithWarning) {
  for (const char* func : {"MODULE_CHECK", "FIRMWARE_CHECK", "KEXEC_KERNEL_CHECK", "KEXEC_INITRAMFS_CHECK",
                           "KEXEC_CMDLINE", "POLICY_CHECK", "CREDS_CHECK", "CRITICAL_DATA", "SETXATTR_CHECK",
                           "MMAP_CHECK_REQPROT", "KEY_CHECK"}) {
    const std::string text = std::string("measure func=") + func;
    const PolicyParse result = parse(text);
    ASSERT_TRUE(result.ok()) << func;
    ASSERT_EQ(result.policy.rules.size(), 1u);
    EXPECT_TRUE(result.policy.rules[0].inert) << func;
    EXPECT_EQ(result.policy.rules[0].func, PolicyFunc::other);
    EXPECT_EQ(result.policy.rules[0].func_name, func);
    ASSERT_EQ(result.warnings.size(), 1u);
    EXPECT_EQ(result.warnings[0].message, std::string("func=") + func + " has no user-space hook; rule never matches");
  }
  const PolicyParse result = parse("measure func=BPRM_CHECK\n\nappraise func=MODULE_CHECK appraise_type=imasig\n");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 3);
  EXPECT_EQ(result.warnings[0].text(),
            "test.policy:3: func=MODULE_CHECK has no user-space hook; rule never matches");
}

TEST(PolicyParse, UnknownFuncIsAnError) {
  EXPECT_EQ(one_error("measure func=EXEC_CHECK"), "unknown func 'EXEC_CHECK'");
  EXPECT_EQ(one_error("measure func=bprm_check"), "unknown func 'bprm_check'");  // case matters, as in the kernel
}

TEST(PolicyParse, Mask) {
  const struct {
    const char* text;
    uint32_t bit;
  } cases[] = {{"MAY_EXEC", kMayExec}, {"MAY_WRITE", kMayWrite}, {"MAY_READ", kMayRead}, {"MAY_APPEND", kMayAppend}};
  for (const auto& c : cases) {
    const PolicyRule plain = one_rule(std::string("measure mask=") + c.text);
    EXPECT_EQ(plain.mask, c.bit);
    EXPECT_FALSE(plain.mask_any);
    const PolicyRule any = one_rule(std::string("measure mask=^") + c.text);
    EXPECT_EQ(any.mask, c.bit);
    EXPECT_TRUE(any.mask_any);
  }
  EXPECT_TRUE(contains(one_error("measure mask=MAY_EXEC|MAY_READ"), "unknown mask 'MAY_EXEC|MAY_READ'"));
  EXPECT_TRUE(contains(one_error("measure mask=^"), "unknown mask '^'"));
  EXPECT_TRUE(contains(one_error("measure mask=may_exec"), "unknown mask"));
}

TEST(PolicyParse, IdConditionsAllOperatorsAndRange) {
  for (const char* key : {"uid", "euid", "gid", "egid", "fowner", "fgroup"}) {
    for (const char op : {'=', '<', '>'}) {
      const std::string text = std::string("measure ") + key + op + "4294967294";
      EXPECT_TRUE(parse(text).ok()) << text;
    }
    EXPECT_EQ(one_error(std::string("measure ") + key + "=4294967295"),
              std::string(key) + "=4294967295 is out of range (0..4294967294)");
    EXPECT_EQ(one_error(std::string("measure ") + key + ">99999999999999999999"),
              std::string(key) + ">99999999999999999999 is out of range (0..4294967294)");
    EXPECT_EQ(one_error(std::string("measure ") + key + "=abc"),
              std::string(key) + "= needs a decimal number, got 'abc'");
    EXPECT_EQ(one_error(std::string("measure ") + key + "<-1"), std::string(key) + "< needs a decimal number, got '-1'");
    EXPECT_EQ(one_error(std::string("measure ") + key + "=0x10"),
              std::string(key) + "= needs a decimal number, got '0x10'");
    EXPECT_EQ(one_error(std::string("measure ") + key + "=+1"), std::string(key) + "= needs a decimal number, got '+1'");
  }
  EXPECT_EQ(one_rule("measure uid=0").uid->value, 0u);
  EXPECT_EQ(one_rule("measure uid=0001001").uid->value, 1001u);
}

TEST(PolicyParse, Fsmagic) {
  EXPECT_EQ(one_rule("dont_measure fsmagic=0x9fa0").fsmagic, 0x9fa0u);
  EXPECT_EQ(one_rule("dont_measure fsmagic=9fa0").fsmagic, 0x9fa0u);  // base 16 even without 0x
  EXPECT_EQ(one_rule("dont_measure fsmagic=0X9FA0").fsmagic, 0x9fa0u);
  EXPECT_EQ(one_rule("dont_measure fsmagic=10").fsmagic, 0x10u);
  EXPECT_EQ(one_rule("dont_measure fsmagic=ffffffffffffffff").fsmagic, UINT64_MAX);
  EXPECT_EQ(one_rule("dont_measure fsmagic=0").fsmagic, 0u);
  EXPECT_TRUE(contains(one_error("dont_measure fsmagic=0x"), "fsmagic= needs a hexadecimal number"));
  EXPECT_TRUE(contains(one_error("dont_measure fsmagic=0xzz"), "got '0xzz'"));
  EXPECT_TRUE(contains(one_error("dont_measure fsmagic=proc"), "fsmagic= needs a hexadecimal number"));
  EXPECT_TRUE(contains(one_error("dont_measure fsmagic=10000000000000000"), "fsmagic= needs a hexadecimal number"));
  EXPECT_TRUE(contains(one_error("dont_measure fsmagic=-1"), "fsmagic= needs a hexadecimal number"));
}

TEST(PolicyParse, Fsuuid) {
  const PolicyRule rule = one_rule("measure fsuuid=00112233-4455-6677-8899-AABBCCDDEEFF");
  const std::array<uint8_t, 16> uuid = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                        0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  EXPECT_EQ(rule.fsuuid, uuid);
  for (const char* bad : {"00112233-4455-6677-8899-aabbccddeef",     // short
                          "00112233-4455-6677-8899-aabbccddeeff0",   // long
                          "0011223344556677-8899-aabbccddeeff----",  // dashes misplaced, right length
                          "00112233-4455-6677-8899-aabbccddeefg",    // not hex
                          "001122334455667788990aabbccddeeff000"}) {
    EXPECT_TRUE(contains(one_error(std::string("measure fsuuid=") + bad), "fsuuid= needs a UUID")) << bad;
  }
}

TEST(PolicyParse, FsnamePathKeyring) {
  EXPECT_EQ(one_rule("measure fsname=tmpfs").fsname, "tmpfs");
  EXPECT_EQ(one_rule("measure path=/usr/bin/*").path_glob, "/usr/bin/*");
  EXPECT_EQ(one_rule("measure path=/a/[!x]b/[]]").path_glob, "/a/[!x]b/[]]");
  EXPECT_EQ(one_rule("appraise keyring=Vendor_1.key-ring").keyring, "Vendor_1.key-ring");
  EXPECT_EQ(one_error("measure path=opt/app/**"), "path= must be an absolute glob starting with '/', got 'opt/app/**'");
  EXPECT_EQ(one_error("measure path=*"), "path= must be an absolute glob starting with '/', got '*'");
  EXPECT_EQ(one_error("measure path=/opt/[ab"), "path= has a '[' without its closing ']': '/opt/[ab'");
  EXPECT_EQ(one_error("appraise keyring=a/b"),
            "keyring= needs a name of letters, digits, '_', '.' and '-', got 'a/b'");
  EXPECT_EQ(one_error("measure keyring=vendor"), "keyring= is only valid on appraise rules");
  EXPECT_EQ(one_error("dont_appraise keyring=vendor"), "keyring= is only valid on appraise rules");
}

TEST(PolicyParse, LsmConditionsAreInertWithWarning) {
  for (const char* key : {"subj_user", "subj_role", "subj_type", "obj_user", "obj_role", "obj_type"}) {
    const std::string text = std::string("dont_measure ") + key + "=system_u";
    EXPECT_EQ(one_warning(text), std::string(key) + "= needs LSM labels, which vigil does not evaluate; rule never matches");
    EXPECT_TRUE(parse(text).policy.rules[0].inert);
  }
  EXPECT_EQ(one_warning("measure fs_subtype=fuse.sshfs"), "fs_subtype= is not evaluated by vigil; rule never matches");
}

TEST(PolicyParse, AppraiseType) {
  EXPECT_TRUE(one_rule("appraise appraise_type=imasig").appraise_imasig);
  EXPECT_FALSE(one_rule("appraise func=BPRM_CHECK").appraise_imasig);
  EXPECT_EQ(one_warning("appraise appraise_type=imasig|modsig"),
            "modsig (appended signatures) does not apply to the files vigil appraises; treated as appraise_type=imasig");
  const PolicyParse modsig = parse("appraise appraise_type=imasig|modsig");
  EXPECT_TRUE(modsig.policy.rules[0].appraise_imasig);
  EXPECT_FALSE(modsig.policy.rules[0].inert);
  EXPECT_TRUE(contains(one_warning("appraise appraise_type=sigv3"), "sigv3"));
  EXPECT_TRUE(parse("appraise appraise_type=sigv3").policy.rules[0].inert);
  EXPECT_EQ(one_error("appraise appraise_type=modsig"), "unknown appraise_type 'modsig' (imasig, imasig|modsig, sigv3)");
  EXPECT_EQ(one_error("measure appraise_type=imasig"), "appraise_type= is only valid on appraise rules");
  EXPECT_EQ(one_error("dont_appraise appraise_type=imasig"), "appraise_type= is only valid on appraise rules");
  EXPECT_EQ(one_error("audit appraise_type=imasig"), "appraise_type= is only valid on appraise rules");
}

TEST(PolicyParse, TemplateAndPcr) {
  EXPECT_EQ(one_rule("measure template=ima").template_name, TemplateName::ima);
  EXPECT_EQ(one_rule("measure template=ima-ng").template_name, TemplateName::ima_ng);
  EXPECT_EQ(one_rule("measure template=ima-sig").template_name, TemplateName::ima_sig);
  EXPECT_EQ(one_error("measure template=ima-buf"), "unknown template 'ima-buf' (ima, ima-ng, ima-sig)");
  EXPECT_EQ(one_error("appraise template=ima-ng"), "template= is only valid on measure rules");
  EXPECT_EQ(one_error("dont_measure template=ima-ng"), "template= is only valid on measure rules");
  EXPECT_EQ(one_rule("measure pcr=0").pcr, 0u);
  EXPECT_EQ(one_rule("measure pcr=11").pcr, 11u);
  EXPECT_EQ(one_rule("measure pcr=23").pcr, 23u);
  EXPECT_EQ(one_error("measure pcr=24"), "pcr= needs a PCR index 0..23, got '24'");
  EXPECT_EQ(one_error("measure pcr=ten"), "pcr= needs a PCR index 0..23, got 'ten'");
  EXPECT_EQ(one_error("measure pcr=-1"), "pcr= needs a PCR index 0..23, got '-1'");
  EXPECT_EQ(one_error("appraise pcr=10"), "pcr= is only valid on measure rules");
}

TEST(PolicyParse, OptionsVigilIgnoresWarn) {
  EXPECT_EQ(one_warning("appraise appraise_flag=check_blacklist"), "appraise_flag=check_blacklist is deprecated and ignored");
  EXPECT_EQ(one_error("appraise appraise_flag=other"), "unknown appraise_flag 'other' (check_blacklist)");
  EXPECT_EQ(one_error("measure appraise_flag=check_blacklist"), "appraise_flag= is only valid on appraise rules");
  EXPECT_EQ(one_warning("appraise appraise_algos=sha256,sha512,sm3"), "appraise_algos= is not enforced by vigil; ignored");
  EXPECT_EQ(one_error("appraise appraise_algos=sha256,nope"), "appraise_algos= names an unknown hash algorithm 'nope'");
  EXPECT_EQ(one_error("appraise appraise_algos=sha256,"), "appraise_algos= names an unknown hash algorithm ''");
  EXPECT_EQ(one_warning("measure permit_directio"), "permit_directio does not apply to user space; ignored");
  EXPECT_EQ(one_error("measure permit_directio=1"), "permit_directio takes no value");
  EXPECT_TRUE(contains(one_warning("appraise digest_type=verity"), "digest_type=verity"));
  EXPECT_TRUE(parse("measure digest_type=verity").policy.rules[0].inert);
  EXPECT_EQ(one_error("measure digest_type=sha256"), "unknown digest_type 'sha256' (verity)");
  EXPECT_EQ(one_error("audit digest_type=verity"), "digest_type= is only valid on measure and appraise rules");
}

TEST(PolicyParse, KeyringsAndLabelNeedTheirFunc) {
  EXPECT_EQ(one_warning("measure func=KEY_CHECK keyrings=.ima|.builtin_trusted_keys"),
            "func=KEY_CHECK has no user-space hook; rule never matches");
  EXPECT_EQ(one_warning("measure keyrings=.ima func=KEY_CHECK"),  // order does not matter
            "func=KEY_CHECK has no user-space hook; rule never matches");
  EXPECT_EQ(one_error("measure func=BPRM_CHECK keyrings=.ima"), "keyrings= is only valid with func=KEY_CHECK");
  EXPECT_EQ(one_error("measure keyrings=.ima"), "keyrings= is only valid with func=KEY_CHECK");
  EXPECT_EQ(one_error("appraise func=KEY_CHECK keyrings=.ima"), "keyrings= is only valid on measure rules");
  EXPECT_EQ(one_error("appraise keyrings=.ima"), "keyrings= is only valid on measure rules");  // one error, not two
  EXPECT_EQ(one_error("audit label=x"), "label= is only valid on measure rules");
  EXPECT_EQ(one_warning("measure func=CRITICAL_DATA label=selinux"),
            "func=CRITICAL_DATA has no user-space hook; rule never matches");
  EXPECT_EQ(one_error("measure label=selinux"), "label= is only valid with func=CRITICAL_DATA");
}

// ---------------------------------------------------------------------------------------
// Parsing: errors, each with its line

TEST(PolicyErrors, UnknownAction) {
  EXPECT_EQ(one_error("measur func=BPRM_CHECK"),
            "unknown action 'measur' (measure, dont_measure, appraise, dont_appraise, audit, hash, dont_hash)");
  EXPECT_TRUE(contains(one_error("func=BPRM_CHECK measure"), "unknown action 'func=BPRM_CHECK'"));
  EXPECT_TRUE(contains(one_error("dont_audit"), "unknown action 'dont_audit'"));
  EXPECT_TRUE(contains(one_error("MEASURE"), "unknown action 'MEASURE'"));
}

TEST(PolicyErrors, DuplicateConditions) {
  EXPECT_EQ(one_error("measure uid=1 uid=2"), "duplicate 'uid' in rule");
  EXPECT_EQ(one_error("measure uid=1 uid<2"), "duplicate 'uid' in rule");  // one uid condition, as the kernel
  EXPECT_EQ(one_error("measure func=BPRM_CHECK func=MMAP_CHECK"), "duplicate 'func' in rule");
  EXPECT_EQ(one_error("measure mask=MAY_EXEC mask=^MAY_READ"), "duplicate 'mask' in rule");
  EXPECT_EQ(one_error("measure template=ima template=ima"), "duplicate 'template' in rule");
  EXPECT_EQ(one_error("appraise appraise_type=imasig appraise_type=imasig"), "duplicate 'appraise_type' in rule");
  EXPECT_EQ(one_error("measure path=/a path=/b"), "duplicate 'path' in rule");
  EXPECT_EQ(one_error("measure fsmagic=1 fsmagic=2"), "duplicate 'fsmagic' in rule");
  const PolicyParse directio = parse("measure permit_directio permit_directio");
  ASSERT_EQ(directio.errors.size(), 1u);
  EXPECT_EQ(directio.errors[0].message, "duplicate 'permit_directio' in rule");
  // Different id conditions are not duplicates of each other.
  EXPECT_TRUE(parse("measure uid=1 euid=1 gid=1 egid=1 fowner=1 fgroup=1").ok());
}

TEST(PolicyErrors, MalformedTokens) {
  EXPECT_EQ(one_error("measure BPRM_CHECK"), "unknown condition or option 'BPRM_CHECK'");
  EXPECT_EQ(one_error("measure func"), "'func' needs a value (func=...)");
  EXPECT_EQ(one_error("measure uid"), "'uid' needs a value (uid=...)");
  EXPECT_EQ(one_error("measure func="), "empty value for 'func'");
  EXPECT_EQ(one_error("measure uid<"), "empty value for 'uid'");
  EXPECT_EQ(one_error("measure path="), "empty value for 'path'");
  EXPECT_EQ(one_error("measure colour=red"), "unknown condition or option 'colour'");
  EXPECT_EQ(one_error("measure =x"), "unknown condition or option ''");
  EXPECT_EQ(one_error("measure func<BPRM_CHECK"),
            "'func' takes '=', not '<' (only uid, euid, gid, egid, fowner and fgroup take < and >)");
  EXPECT_EQ(one_error("measure fsmagic>1"),
            "'fsmagic' takes '=', not '>' (only uid, euid, gid, egid, fowner and fgroup take < and >)");
  EXPECT_EQ(one_error("measure appraise"), "more than one action in a rule ('appraise')");
  EXPECT_EQ(one_error("measure func=BPRM_CHECK # run programs"), "'#' starts a comment only at the start of a line");
}

TEST(PolicyErrors, AllErrorsOfAFileWithTheirLines) {
  const std::string text =
      "# a policy with mistakes\n"          // 1
      "measure func=BPRM_CHECK\n"           // 2 ok
      "\n"                                  // 3
      "measure uid=1 uid=2\n"               // 4 duplicate
      "bogus\n"                             // 5 unknown action
      "appraise func=NOPE mask=MAY_EAT\n"   // 6 two errors
      "  # comment\n"                       // 7
      "measure appraise_type=imasig\n"      // 8 not on measure
      "appraise func=MODULE_CHECK\n"        // 9 warning only
      "audit uid=x\n";                      // 10
  const PolicyParse result = parse(text);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 6u);
  const int lines[] = {4, 5, 6, 6, 8, 10};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(result.errors[i].line, lines[i]) << result.errors[i].text();
    EXPECT_EQ(result.errors[i].file, "test.policy");
  }
  EXPECT_EQ(result.errors[2].message, "unknown func 'NOPE'");
  EXPECT_TRUE(contains(result.errors[3].message, "unknown mask 'MAY_EAT'"));
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 9);
  // Only the good rules are kept.
  ASSERT_EQ(result.policy.rules.size(), 2u);
  EXPECT_EQ(result.policy.rules[0].line, 2);
  EXPECT_EQ(result.policy.rules[1].line, 9);
}

TEST(PolicyErrors, LongLinesAndHugePolicies) {
  const std::string long_line = "measure path=/" + std::string(4096, 'a');
  const PolicyParse result = parse("measure\n" + long_line + "\nappraise\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 2);
  EXPECT_EQ(result.errors[0].message, "line is longer than 4096 bytes");
  EXPECT_EQ(result.policy.rules.size(), 2u);
  // 4096 bytes exactly is fine.
  const std::string just_fits = "measure path=/" + std::string(4096 - 14, 'a');
  ASSERT_EQ(just_fits.size(), 4096u);
  EXPECT_TRUE(parse(just_fits).ok());

  std::string huge;
  for (int i = 0; i < 70000; ++i) huge += "measure uid=1\n";  // 14 bytes a line, 980,000 bytes
  EXPECT_TRUE(parse(huge).ok());
  for (int i = 0; i < 10000; ++i) huge += "measure uid=2\n";
  const PolicyParse too_big = parse(huge);
  ASSERT_EQ(too_big.errors.size(), 1u);
  EXPECT_EQ(too_big.errors[0].message, "policy is larger than 1048576 bytes; the rest is not read");
  EXPECT_EQ(too_big.errors[0].line, 1048576 / 14 + 1);
}

TEST(PolicyErrors, DiagnosticsAreCappedPerFile) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "nope\n";
  for (int i = 0; i < 5000; ++i) text += "measure func=MODULE_CHECK\n";
  const PolicyParse result = parse(text);
  ASSERT_EQ(result.errors.size(), 1001u);
  EXPECT_EQ(result.errors.back().message, "too many errors; the rest are not reported");
  ASSERT_EQ(result.warnings.size(), 1001u);
  EXPECT_EQ(result.warnings.back().message, "too many warnings; the rest are not reported");
  EXPECT_EQ(result.policy.rules.size(), 5000u);
}

TEST(PolicyErrors, MessagesCannotForgeLines) {
  const PolicyParse result = parse(std::string("measure func=A\x1b[2J\\x\xff", 21) + "\nbad\x01\n");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].message, "unknown func 'A\\x1b[2J\\\\x\\xff'");
  EXPECT_EQ(result.errors[1].message.substr(0, 24), "unknown action 'bad\\x01'");
  // Long tokens are cut in messages.
  const PolicyParse long_token = parse("measure func=" + std::string(1000, 'X'));
  ASSERT_EQ(long_token.errors.size(), 1u);
  EXPECT_LT(long_token.errors[0].message.size(), 120u);
  // NUL bytes are ordinary (bad) characters.
  EXPECT_FALSE(parse(std::string("measure\0 uid=1", 14)).ok());
}

TEST(PolicyDiagnostic, Text) {
  EXPECT_EQ((PolicyDiagnostic{"a.policy", 7, "unknown action 'x'"}.text()), "a.policy:7: unknown action 'x'");
  EXPECT_EQ((PolicyDiagnostic{"a.policy", 0, "cannot read: gone"}.text()), "a.policy: cannot read: gone");
  EXPECT_EQ((PolicyDiagnostic{"a\nb", 1, "m"}.text()), "a\\nb:1: m");
}

// ---------------------------------------------------------------------------------------
// Files

TEST(PolicyFile, LoadsAndReportsUnreadableFiles) {
  vigil::test::TempDir dir;
  vigil::test::write_text(dir / "good.policy", "measure func=BPRM_CHECK\nbogus\n");
  const PolicyParse loaded = load_policy_file(dir / "good.policy");
  EXPECT_EQ(loaded.policy.rules.size(), 1u);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].file, dir / "good.policy");
  EXPECT_EQ(loaded.errors[0].line, 2);

  const PolicyParse missing = load_policy_file(dir / "missing.policy");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].line, 0);
  EXPECT_EQ(missing.errors[0].message, "cannot read: No such file or directory");
  EXPECT_EQ(missing.errors[0].text(), dir / "missing.policy" + ": cannot read: No such file or directory");

  const PolicyParse directory = load_policy_file(dir.path());
  ASSERT_EQ(directory.errors.size(), 1u);
  EXPECT_EQ(directory.errors[0].message, "cannot read: is a directory");

  auto text = read_policy_file(dir / "missing.policy");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, dir / "missing.policy" + ": No such file or directory");
  EXPECT_EQ(text.error().sys_errno, ENOENT);
  auto good = read_policy_file(dir / "good.policy");
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, "measure func=BPRM_CHECK\nbogus\n");
  EXPECT_FALSE(read_policy_file("/dev/null"));  // not a regular file
}

TEST(PolicyFile, OversizedFileIsReportedNotSlurped) {
  vigil::test::TempDir dir;
  std::string text;
  while (text.size() < 3 * 1024 * 1024) text += "measure uid=1\n";
  vigil::test::write_text(dir / "huge.policy", text);
  auto read = read_policy_file(dir / "huge.policy");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 1024u * 1024u + 1u);
  const PolicyParse loaded = load_policy_file(dir / "huge.policy");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_TRUE(contains(loaded.errors[0].message, "policy is larger than 1048576 bytes"));
}

TEST(PolicyFile, ShippedPoliciesParseCleanly) {
  const auto dir = repo_root() / "policies";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    // IMA policies only; the network policies beside them have their own test (NetpolicyLanguage).
    if (!entry.is_regular_file() || entry.path().extension() != ".policy") continue;
    ++files;
    const PolicyParse loaded = load_policy_file(entry.path().string());
    EXPECT_TRUE(loaded.ok()) << loaded.errors[0].text();
    EXPECT_TRUE(loaded.warnings.empty()) << loaded.warnings[0].text();
    EXPECT_FALSE(loaded.policy.rules.empty()) << entry.path();
  }
  EXPECT_GE(files, 3u);
}

TEST(PolicyFile, DocumentationHasTheRequiredExample) {
  for (const char* name : {"docs/policy.md", "policies/example-uid1001.policy"}) {
    const std::string text = vigil::test::read_text((repo_root() / name).string());
    for (const char* line : {"appraise appraise_type=imasig uid=1001 func=BPRM_CHECK\n",
                             "measure uid=1001 func=BPRM_CHECK\n",
                             "appraise appraise_type=imasig uid=1001 func=MMAP_CHECK\n",
                             "measure uid=1001 func=MMAP_CHECK\n"}) {
      EXPECT_TRUE(contains(text, line)) << name << " lacks " << line;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Evaluation

AccessContext exec_by(uint32_t uid, std::string_view path = "/usr/bin/true") {
  AccessContext access;
  access.func = PolicyFunc::bprm_check;
  access.mask = kMayExec;
  access.uid = access.euid = uid;
  access.gid = access.egid = uid;
  access.path = path;
  return access;
}

Policy policy_of(std::string_view text) {
  PolicyParse result = parse(text);
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].text());
  return std::move(result.policy);
}

TEST(PolicyEvaluate, RequiredUid1001Example) {
  const Policy policy = policy_of(
      "appraise appraise_type=imasig uid=1001 func=BPRM_CHECK\n"
      "measure uid=1001 func=BPRM_CHECK\n"
      "appraise appraise_type=imasig uid=1001 func=MMAP_CHECK\n"
      "measure uid=1001 func=MMAP_CHECK\n");
  ASSERT_EQ(policy.rules.size(), 4u);

  PolicyDecision exec = evaluate_policy(policy, exec_by(1001));
  EXPECT_TRUE(exec.measure);
  EXPECT_TRUE(exec.appraise);
  EXPECT_TRUE(exec.require_signature);
  EXPECT_FALSE(exec.audit);
  EXPECT_EQ(exec.appraise_line, 1);
  EXPECT_EQ(exec.measure_line, 2);
  EXPECT_EQ(exec.template_name, TemplateName::ima_ng);
  EXPECT_EQ(exec.pcr, 10u);
  EXPECT_EQ(exec.keyring, "");

  AccessContext mmap = exec_by(1001, "/usr/lib/libc.so.6");
  mmap.func = PolicyFunc::mmap_check;
  PolicyDecision mapped = evaluate_policy(policy, mmap);
  EXPECT_TRUE(mapped.measure && mapped.appraise && mapped.require_signature);
  EXPECT_EQ(mapped.appraise_line, 3);
  EXPECT_EQ(mapped.measure_line, 4);

  const PolicyDecision other_user = evaluate_policy(policy, exec_by(1000));
  EXPECT_FALSE(other_user.measure);
  EXPECT_FALSE(other_user.appraise);
  EXPECT_FALSE(other_user.require_signature);
  EXPECT_EQ(other_user.measure_line, 0);
  EXPECT_EQ(other_user.appraise_line, 0);

  AccessContext open = exec_by(1001);
  open.func = PolicyFunc::file_check;
  open.mask = kMayRead;
  const PolicyDecision opened = evaluate_policy(policy, open);
  EXPECT_FALSE(opened.measure || opened.appraise);
}

TEST(PolicyEvaluate, FirstMatchPerKind) {
  const Policy policy = policy_of(
      "dont_measure fsmagic=0x9fa0\n"               // 1 procfs
      "measure func=BPRM_CHECK template=ima-sig pcr=11\n"  // 2
      "measure\n"                                    // 3 never reached for execs
      "dont_appraise fsmagic=0x9fa0\n"               // 4
      "appraise func=BPRM_CHECK keyring=vendor appraise_type=imasig\n"  // 5
      "audit uid=0\n");                              // 6
  AccessContext proc = exec_by(0, "/proc/self/exe");
  proc.fsmagic = 0x9fa0;
  const PolicyDecision in_proc = evaluate_policy(policy, proc);
  EXPECT_FALSE(in_proc.measure);
  EXPECT_EQ(in_proc.measure_line, 1);
  EXPECT_FALSE(in_proc.appraise);
  EXPECT_EQ(in_proc.appraise_line, 4);
  EXPECT_TRUE(in_proc.audit);
  EXPECT_EQ(in_proc.keyring, "");
  EXPECT_FALSE(in_proc.require_signature);

  AccessContext ext4 = exec_by(1000);
  ext4.fsmagic = 0xef53;
  const PolicyDecision exec = evaluate_policy(policy, ext4);
  EXPECT_TRUE(exec.measure);
  EXPECT_EQ(exec.measure_line, 2);
  EXPECT_EQ(exec.template_name, TemplateName::ima_sig);
  EXPECT_EQ(exec.pcr, 11u);
  EXPECT_TRUE(exec.appraise);
  EXPECT_EQ(exec.appraise_line, 5);
  EXPECT_TRUE(exec.require_signature);
  EXPECT_EQ(exec.keyring, "vendor");
  EXPECT_FALSE(exec.audit);

  AccessContext read = ext4;
  read.func = PolicyFunc::file_check;
  read.mask = kMayRead;
  const PolicyDecision opened = evaluate_policy(policy, read);
  EXPECT_TRUE(opened.measure);
  EXPECT_EQ(opened.measure_line, 3);
  EXPECT_EQ(opened.template_name, TemplateName::ima_ng);  // rule 3 has no template=
  EXPECT_EQ(opened.pcr, 10u);
  EXPECT_FALSE(opened.appraise);
  EXPECT_EQ(opened.appraise_line, 0);
}

TEST(PolicyEvaluate, OrderDecides) {
  const AccessContext access = exec_by(5);
  EXPECT_TRUE(evaluate_policy(policy_of("measure\ndont_measure\n"), access).measure);
  EXPECT_FALSE(evaluate_policy(policy_of("dont_measure\nmeasure\n"), access).measure);
  EXPECT_TRUE(evaluate_policy(policy_of("appraise\ndont_appraise\n"), access).appraise);
  EXPECT_FALSE(evaluate_policy(policy_of("dont_appraise\nappraise appraise_type=imasig\n"), access).require_signature);
  // A plain appraise (no appraise_type) accepts a digest: no signature required.
  const PolicyDecision digest_ok = evaluate_policy(policy_of("appraise\nappraise appraise_type=imasig\n"), access);
  EXPECT_TRUE(digest_ok.appraise);
  EXPECT_FALSE(digest_ok.require_signature);
  // hash rules settle only hashing.
  const PolicyDecision hashed = evaluate_policy(policy_of("dont_hash\nhash\nmeasure\n"), access);
  EXPECT_TRUE(hashed.measure);
  EXPECT_EQ(hashed.measure_line, 3);
  // audit has no opposite: the first match turns it on.
  EXPECT_TRUE(evaluate_policy(policy_of("audit uid=9\naudit uid=5\n"), access).audit);
  EXPECT_FALSE(evaluate_policy(policy_of("audit uid=9\n"), access).audit);
  // Empty policy: nothing.
  const PolicyDecision none = evaluate_policy(Policy{}, access);
  EXPECT_FALSE(none.measure || none.appraise || none.audit || none.require_signature);
}

TEST(PolicyEvaluate, InertRulesNeverMatch) {
  const PolicyParse result = parse(
      "dont_measure obj_type=bin_t\n"
      "dont_appraise func=MODULE_CHECK\n"
      "dont_appraise appraise_type=sigv3\n"  // error: not on dont_appraise
      "appraise appraise_type=sigv3\n"
      "measure\n"
      "appraise\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 3);
  const PolicyDecision decision = evaluate_policy(result.policy, exec_by(0));
  EXPECT_TRUE(decision.measure);
  EXPECT_EQ(decision.measure_line, 5);
  EXPECT_TRUE(decision.appraise);
  EXPECT_EQ(decision.appraise_line, 6);
  EXPECT_FALSE(decision.require_signature);
}

TEST(PolicyEvaluate, IdOperators) {
  EXPECT_TRUE((IdCondition{IdOp::equal, 1001}.matches(1001)));
  EXPECT_FALSE((IdCondition{IdOp::equal, 1001}.matches(1000)));
  EXPECT_TRUE((IdCondition{IdOp::less, 1000}.matches(999)));
  EXPECT_FALSE((IdCondition{IdOp::less, 1000}.matches(1000)));
  EXPECT_TRUE((IdCondition{IdOp::greater, 1000}.matches(1001)));
  EXPECT_FALSE((IdCondition{IdOp::greater, 1000}.matches(1000)));
  EXPECT_FALSE((IdCondition{IdOp::less, 0}.matches(0)));

  const Policy policy = policy_of("measure uid<1000\nappraise uid>999\n");
  EXPECT_TRUE(evaluate_policy(policy, exec_by(1000)).appraise);
  EXPECT_FALSE(evaluate_policy(policy, exec_by(999)).appraise);
  EXPECT_TRUE(evaluate_policy(policy, exec_by(999)).measure);
  EXPECT_FALSE(evaluate_policy(policy, exec_by(1000)).measure);
  // "uid>=1000" is uid greater than "=1000": not a number.
  EXPECT_FALSE(parse("measure uid>=1000").ok());

  const struct {
    const char* rule;
    uint32_t matching;
    uint32_t other;
  } cases[] = {{"euid>0", 1, 0}, {"gid=50", 50, 51}, {"egid<10", 9, 10}, {"fowner=0", 0, 1}, {"fgroup>100", 101, 100}};
  for (const auto& c : cases) {
    const Policy one = policy_of(std::string("measure ") + c.rule);
    AccessContext yes;
    AccessContext no;
    const std::string_view key = std::string_view(c.rule).substr(0, std::string_view(c.rule).find_first_of("=<>"));
    for (auto* access : {&yes, &no}) {
      const uint32_t value = access == &yes ? c.matching : c.other;
      if (key == "euid") access->euid = value;
      if (key == "gid") access->gid = value;
      if (key == "egid") access->egid = value;
      if (key == "fowner") access->fowner = value;
      if (key == "fgroup") access->fgroup = value;
    }
    EXPECT_TRUE(evaluate_policy(one, yes).measure) << c.rule;
    EXPECT_FALSE(evaluate_policy(one, no).measure) << c.rule;
  }
}

TEST(PolicyEvaluate, MaskEqualityVersusOverlap) {
  AccessContext read_write;
  read_write.mask = kMayRead | kMayWrite;
  AccessContext read_only;
  read_only.mask = kMayRead;
  const Policy exact = policy_of("measure mask=MAY_READ\n");
  EXPECT_TRUE(evaluate_policy(exact, read_only).measure);
  EXPECT_FALSE(evaluate_policy(exact, read_write).measure);
  const Policy any = policy_of("measure mask=^MAY_READ\n");
  EXPECT_TRUE(evaluate_policy(any, read_only).measure);
  EXPECT_TRUE(evaluate_policy(any, read_write).measure);
  AccessContext write_only;
  write_only.mask = kMayWrite;
  EXPECT_FALSE(evaluate_policy(any, write_only).measure);
  EXPECT_FALSE(evaluate_policy(exact, write_only).measure);
}

TEST(PolicyEvaluate, FilesystemConditions) {
  const Policy policy = policy_of(
      "measure fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6\n"
      "appraise fsname=ext4\n"
      "audit fsmagic=ef53\n");
  AccessContext access;
  access.fsname = "ext4";
  access.fsmagic = 0xef53;
  PolicyDecision decision = evaluate_policy(policy, access);
  EXPECT_FALSE(decision.measure);  // the access has no fsuuid: the rule cannot match
  EXPECT_TRUE(decision.appraise);
  EXPECT_TRUE(decision.audit);
  access.fsuuid = std::array<uint8_t, 16>{0x8b, 0xcb, 0xe3, 0x94, 0x4f, 0x13, 0x41, 0x44,
                                          0xbe, 0x8e, 0x5a, 0xa9, 0xea, 0x2c, 0xe2, 0xf6};
  EXPECT_TRUE(evaluate_policy(policy, access).measure);
  (*access.fsuuid)[15] ^= 1;
  EXPECT_FALSE(evaluate_policy(policy, access).measure);
  access.fsname = "xfs";
  access.fsmagic = 0x58465342;
  decision = evaluate_policy(policy, access);
  EXPECT_FALSE(decision.appraise);
  EXPECT_FALSE(decision.audit);
}

TEST(PolicyEvaluate, PathAndKeyringExtensions) {
  const Policy policy = load_policy_file((repo_root() / "policies/payment-app.policy").string()).policy;
  ASSERT_FALSE(policy.rules.empty());
  AccessContext app = exec_by(990, "/opt/app/bin/pay");
  PolicyDecision decision = evaluate_policy(policy, app);
  EXPECT_TRUE(decision.appraise);
  EXPECT_TRUE(decision.require_signature);
  EXPECT_EQ(decision.keyring, "vendor");
  EXPECT_TRUE(decision.measure);
  EXPECT_EQ(decision.template_name, TemplateName::ima_sig);
  EXPECT_FALSE(decision.audit);  // the service account itself
  app.uid = 1000;
  EXPECT_TRUE(evaluate_policy(policy, app).audit);

  AccessContext config = exec_by(990, "/opt/app/etc/run.sh");
  decision = evaluate_policy(policy, config);
  EXPECT_FALSE(decision.appraise);
  EXPECT_NE(decision.appraise_line, 0);
  EXPECT_TRUE(decision.measure);

  const PolicyDecision elsewhere = evaluate_policy(policy, exec_by(990, "/usr/bin/pay"));
  EXPECT_FALSE(elsewhere.appraise || elsewhere.measure || elsewhere.audit);
  const PolicyDecision prefix_only = evaluate_policy(policy, exec_by(990, "/opt/application/x"));
  EXPECT_FALSE(prefix_only.appraise || prefix_only.measure);

  AccessContext library = exec_by(990, "/opt/app/lib/libpay.so");
  library.func = PolicyFunc::file_check;
  library.mask = kMayRead | kMayWrite;
  EXPECT_TRUE(evaluate_policy(policy, library).appraise);
  library.path = "/opt/app/lib/sub/libpay.so";  // '*' stays within lib/
  EXPECT_FALSE(evaluate_policy(policy, library).appraise);
  // An access without a path never matches a path= rule.
  EXPECT_FALSE(evaluate_policy(policy_of("measure path=/**"), AccessContext{}).measure);
  EXPECT_TRUE(evaluate_policy(policy_of("measure path=/**"), exec_by(0, "/x")).measure);
}

TEST(PolicyEvaluate, ShippedDefaultPolicy) {
  const Policy policy = load_policy_file((repo_root() / "policies/default.policy").string()).policy;
  AccessContext exec = exec_by(1000, "/usr/bin/ls");
  exec.fsmagic = 0xef53;
  PolicyDecision decision = evaluate_policy(policy, exec);
  EXPECT_TRUE(decision.measure);
  EXPECT_FALSE(decision.appraise);
  exec.fsmagic = 0x01021994;  // tmpfs: /dev/shm, memfd — still measured
  EXPECT_TRUE(evaluate_policy(policy, exec).measure);
  exec.fsmagic = 0x9fa0;
  EXPECT_FALSE(evaluate_policy(policy, exec).measure);
  AccessContext mmap = exec_by(1000, "/usr/lib/x.so");
  mmap.func = PolicyFunc::mmap_check;
  EXPECT_TRUE(evaluate_policy(policy, mmap).measure);
  mmap.mask = kMayRead;  // mapped, not executable
  EXPECT_FALSE(evaluate_policy(policy, mmap).measure);
  AccessContext open;
  open.path = "/etc/passwd";
  EXPECT_FALSE(evaluate_policy(policy, open).measure);
}

// ---------------------------------------------------------------------------------------
// Globs

TEST(PathGlob, Stars) {
  EXPECT_TRUE(path_glob_matches("/opt/app/**", "/opt/app/a/b/c"));
  EXPECT_TRUE(path_glob_matches("/opt/app/**", "/opt/app/a"));
  EXPECT_TRUE(path_glob_matches("/opt/app/**", "/opt/app/"));
  EXPECT_FALSE(path_glob_matches("/opt/app/**", "/opt/app"));
  EXPECT_FALSE(path_glob_matches("/opt/app/**", "/opt/apple/a"));
  EXPECT_TRUE(path_glob_matches("/opt/app/*", "/opt/app/a"));
  EXPECT_FALSE(path_glob_matches("/opt/app/*", "/opt/app/a/b"));
  EXPECT_TRUE(path_glob_matches("/opt/app/*", "/opt/app/"));
  EXPECT_TRUE(path_glob_matches("/usr/*/bin/*", "/usr/local/bin/tool"));
  EXPECT_FALSE(path_glob_matches("/usr/*/bin/*", "/usr/local/x/bin/tool"));
  EXPECT_TRUE(path_glob_matches("/usr/**/bin/*", "/usr/local/x/bin/tool"));
  EXPECT_FALSE(path_glob_matches("/usr/**/bin/*", "/usr/bin/tool"));  // '**' keeps the slashes around it
  EXPECT_TRUE(path_glob_matches("/**/*.so", "/usr/lib/x86_64/libc.so"));
  EXPECT_FALSE(path_glob_matches("/**/*.so", "/usr/lib/libc.so.6"));
  EXPECT_TRUE(path_glob_matches("/**.so*", "/usr/lib/libc.so.6"));
  EXPECT_TRUE(path_glob_matches("/a/*b*c/d", "/a/xxbyyc/d"));
  EXPECT_FALSE(path_glob_matches("/a/*b*c/d", "/a/xxb/c/d"));
  EXPECT_TRUE(path_glob_matches("/a/***", "/a/b/c"));  // three stars are '**'
  EXPECT_TRUE(path_glob_matches("**", ""));
  EXPECT_TRUE(path_glob_matches("*", ""));
  EXPECT_TRUE(path_glob_matches("", ""));
  EXPECT_FALSE(path_glob_matches("", "/"));
  EXPECT_FALSE(path_glob_matches("*", "/"));
  EXPECT_TRUE(path_glob_matches("/*/**/x", "/a//x"));
}

TEST(PathGlob, QuestionMarkAndClasses) {
  EXPECT_TRUE(path_glob_matches("/bin/?s", "/bin/ls"));
  EXPECT_FALSE(path_glob_matches("/bin/?s", "/bin/s"));
  EXPECT_FALSE(path_glob_matches("/bin?ls", "/bin/ls"));  // '?' never matches '/'
  EXPECT_TRUE(path_glob_matches("/dev/tty[0-9]", "/dev/tty7"));
  EXPECT_FALSE(path_glob_matches("/dev/tty[0-9]", "/dev/ttyS"));
  EXPECT_TRUE(path_glob_matches("/dev/tty[!0-9]", "/dev/ttyS"));
  EXPECT_TRUE(path_glob_matches("/dev/tty[^0-9]", "/dev/ttyS"));
  EXPECT_FALSE(path_glob_matches("/dev/tty[^0-9]", "/dev/tty1"));
  EXPECT_TRUE(path_glob_matches("/x/[abc]", "/x/b"));
  EXPECT_FALSE(path_glob_matches("/x/[abc]", "/x/d"));
  EXPECT_TRUE(path_glob_matches("/x/[]a]", "/x/]"));
  EXPECT_TRUE(path_glob_matches("/x/[!]]", "/x/a"));
  EXPECT_FALSE(path_glob_matches("/x/[!]]", "/x/]"));
  EXPECT_TRUE(path_glob_matches("/x/[a-]", "/x/-"));
  EXPECT_FALSE(path_glob_matches("/x[!a]y", "/x/y"));   // a class never matches '/'
  EXPECT_FALSE(path_glob_matches("/x[/]y", "/x/y"));
  EXPECT_TRUE(path_glob_matches("/x/[ab", "/x/[ab"));   // unclosed: literal
  EXPECT_TRUE(path_glob_matches("/a\\*b", "/a\\xxb"));  // no escapes: '\' is literal
}

TEST(PathGlob, LiteralsAndNoBlowUp) {
  EXPECT_TRUE(path_glob_matches("/etc/passwd", "/etc/passwd"));
  EXPECT_FALSE(path_glob_matches("/etc/passwd", "/etc/passwd2"));
  EXPECT_FALSE(path_glob_matches("/etc/passwd", "/etc/passw"));
  EXPECT_FALSE(path_glob_matches("/etc/passwd", "/ETC/passwd"));
  // Patterns that are exponential for naive backtracking finish at once.
  const std::string path = "/" + std::string(4000, 'a') + "b";
  std::string glob = "/";
  for (int i = 0; i < 100; ++i) glob += "*a";
  glob += "c";
  EXPECT_FALSE(path_glob_matches(glob, path));
  std::string deep = "/";
  for (int i = 0; i < 100; ++i) deep += "**a";
  deep += "c";
  std::string deep_path;
  for (int i = 0; i < 1000; ++i) deep_path += "/a";
  EXPECT_FALSE(path_glob_matches(deep, deep_path));
}

// Plain recursive matcher: the definition, exponential but fine for short strings.
bool reference_match(std::string_view glob, std::string_view path) {
  if (glob.empty()) return path.empty();
  if (glob[0] == '*') {
    size_t run = 0;
    while (run < glob.size() && glob[run] == '*') ++run;
    const std::string_view rest = glob.substr(run);
    for (size_t i = 0; i <= path.size(); ++i) {
      if (reference_match(rest, path.substr(i))) return true;
      if (run == 1 && i < path.size() && path[i] == '/') return false;
    }
    return false;
  }
  if (path.empty()) return false;
  if (glob[0] == '?') return path[0] != '/' && reference_match(glob.substr(1), path.substr(1));
  if (glob[0] == '[') {
    size_t i = 1;
    bool negate = false;
    if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) negate = true, ++i;
    const size_t first = i;
    if (i < glob.size() && glob[i] == ']') ++i;
    while (i < glob.size() && glob[i] != ']') ++i;
    if (i < glob.size()) {
      bool found = false;
      for (size_t k = first; k < i; ++k) {
        if (k + 2 < i && glob[k + 1] == '-') {
          if (path[0] >= glob[k] && path[0] <= glob[k + 2]) found = true;
          k += 2;
        } else if (path[0] == glob[k]) {
          found = true;
        }
      }
      return path[0] != '/' && found != negate && reference_match(glob.substr(i + 1), path.substr(1));
    }
  }
  return glob[0] == path[0] && reference_match(glob.substr(1), path.substr(1));
}

TEST(PathGlob, AgreesWithTheDefinition) {
  std::mt19937 random(20240601);
  const char* glob_parts[] = {"a", "b", "/", "*", "**", "?", "[ab]", "[!a]", "[", "]"};
  const char path_chars[] = {'a', 'b', '/', '['};
  size_t matched = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string glob;
    for (int n = static_cast<int>(random() % 7); n > 0; --n) glob += glob_parts[random() % std::size(glob_parts)];
    std::string path;
    for (int n = static_cast<int>(random() % 9); n > 0; --n) path += path_chars[random() % std::size(path_chars)];
    const bool expected = reference_match(glob, path);
    ASSERT_EQ(path_glob_matches(glob, path), expected) << "glob '" << glob << "' path '" << path << "'";
    matched += expected;
  }
  EXPECT_GT(matched, 1000u);  // the random cases are not all trivial misses
}

}  // namespace
