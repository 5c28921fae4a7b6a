// `vigil oci-hook --agent-socket`: a verified image's manifest digest is appended to the running
// agent's measurement list (ima-ng, d-ng = sha256 of the manifest, n-ng = oci-image:<container
// id>) and extended into its PCR before the hook lets the container start; without the agent
// the hook refuses (fails closed). The agent watches a private tmpfs only (agent_fixture.h).
#include <sys/stat.h>

#include <filesystem>

#include "agent_fixture.h"
#include "ima/measurement_list.h"

namespace vigil::test {
namespace {

class OciHookMeasurement : public ::testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_ROOT();
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    ASSERT_TRUE(mnt_->mounted());
    const std::string rootfs = dir_ / "bundle/rootfs";
    std::filesystem::create_directories(rootfs + "/etc");
    write_text(rootfs + "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n");
    std::filesystem::create_directories(dir_ / "keys");
    ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "image-key"}).exit_code, 0);
    std::filesystem::copy_file(dir_ / "image-key.crt", dir_ / "keys/image-key.crt");
    const CommandResult signed_image =
        run_vigil({"image", "sign", rootfs, "--key", dir_ / "image-key.key", "-o", dir_ / "image.manifest"});
    ASSERT_EQ(signed_image.exit_code, 0) << signed_image.err;
    write_text(dir_ / "bundle/config.json",
               R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"annotations":{"io.vigil.image.manifest":")" +
                   (dir_ / "image.manifest") + "\"}}");
    write_text(dir_ / "state.json", R"({"ociVersion":"1.0.2","id":"payment-7","status":"creating","pid":1,"bundle":")" +
                                        (dir_ / "bundle") + "\"}");
  }

  CommandResult run_hook() {
    return run_shell(shell_quote(vigil_binary()) + " oci-hook --keyring " + shell_quote(dir_ / "keys") +
                     " --agent-socket " + shell_quote(dir_ / "state/image.sock") + " <" + shell_quote(dir_ / "state.json"));
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mnt_;
};

TEST_F(OciHookMeasurement, VerifiedImageIsRecordedInTheAgentsList) {
  write_text(dir_ / "agent.yaml", "mode: log\nstate_dir: " + (dir_ / "state") + "\ntpm: none\nwatch:\n  - " +
                                      mnt_->path() + "\n");
  AgentProcess agent(dir_ / "agent.yaml", dir_ / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "state/image.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const CommandResult hook = run_hook();
  EXPECT_EQ(hook.exit_code, 0) << hook.err;
  agent.stop();

  const std::string manifest = read_text(dir_ / "image.manifest");
  crypto::Hasher hasher;
  const auto digest =
      hasher.of_bytes(crypto::HashAlgo::sha256, std::span(reinterpret_cast<const uint8_t*>(manifest.data()), manifest.size()));
  ASSERT_TRUE(digest);
  const std::string ascii = read_text(dir_ / "state/ascii_runtime_measurements");
  auto entries = ima::parse_ascii_list(ascii);
  ASSERT_TRUE(entries) << entries.error().message << "\n" << ascii;
  const auto found = std::find_if(entries->begin(), entries->end(),
                                  [](const ima::MeasurementEntry& entry) { return entry.path == "oci-image:payment-7"; });
  ASSERT_NE(found, entries->end()) << ascii;
  EXPECT_EQ(found->template_name, ima::TemplateName::ima_ng);
  EXPECT_EQ(found->pcr, 10u);
  EXPECT_EQ(found->file_digest, *digest);
  EXPECT_NE(ascii.find("sha256:" + digest->hex() + " oci-image:payment-7\n"), std::string::npos) << ascii;
}

TEST_F(OciHookMeasurement, TamperedImageIsRefusedAndNotRecorded) {
  write_text(dir_ / "agent.yaml", "mode: log\nstate_dir: " + (dir_ / "state") + "\ntpm: none\nwatch:\n  - " +
                                      mnt_->path() + "\n");
  AgentProcess agent(dir_ / "agent.yaml", dir_ / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();
  write_text(dir_ / "bundle/rootfs/etc/passwd", "root::0:0:root:/:/bin/sh\n");
  const CommandResult hook = run_hook();
  EXPECT_NE(hook.exit_code, 0);
  agent.stop();
  EXPECT_EQ(read_text(dir_ / "state/ascii_runtime_measurements").find("oci-image:"), std::string::npos);
}

TEST_F(OciHookMeasurement, WithoutTheAgentTheHookRefuses) {
  std::filesystem::create_directories(dir_ / "state");
  const CommandResult hook = run_hook();
  EXPECT_NE(hook.exit_code, 0);
  EXPECT_NE(hook.err.find("the measurement could not be recorded"), std::string::npos) << hook.err;
  EXPECT_NE(hook.err.find(dir_ / "state/image.sock"), std::string::npos) << hook.err;
}

}  // namespace
}  // namespace vigil::test
