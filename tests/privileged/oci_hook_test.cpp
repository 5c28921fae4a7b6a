// `vigil oci-hook` as a createRuntime hook of real runc and crun containers (docs/image.md): a
// busybox-static rootfs signed with an SM2 key starts; every kind of tampering after signing is
// refused before the container's program runs (the program would leave /tmp/ran in the rootfs),
// with the runtime's error naming the path. Every container is deleted, also on failure.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "cli_fixture.h"
#include "support/test_support.h"

namespace vigil::test {
namespace {

constexpr const char* kApplets[] = {"sh", "echo", "cat", "true"};

std::string random_id() {
  std::random_device random;
  char text[32];
  std::snprintf(text, sizeof text, "vigil-hook-%08x%08x", random(), random());
  return text;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

class OciHookTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_ROOT();
    VIGIL_REQUIRE(have_program(runtime()), runtime() + " not installed (scripts/deps.txt)");
    VIGIL_REQUIRE(have_program("runc"), "runc not installed (it writes the bundle's config.json)");
    VIGIL_REQUIRE(exists("/bin/busybox"), "no static /bin/busybox (scripts/deps.txt: busybox-static)");
    bundle_ = dir_ / "bundle";
    rootfs_ = bundle_ + "/rootfs";
    for (const char* sub : {"/bin", "/etc", "/proc", "/dev", "/sys", "/tmp"}) {
      std::filesystem::create_directories(rootfs_ + sub);
    }
    std::filesystem::copy_file("/bin/busybox", rootfs_ + "/bin/busybox");
    for (const char* applet : kApplets) ASSERT_EQ(::symlink("busybox", (rootfs_ + "/bin/" + applet).c_str()), 0);
    write_text(rootfs_ + "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n");
    write_text(rootfs_ + "/etc/group", "root:x:0:\n");
    ASSERT_EQ(::chmod((rootfs_ + "/tmp").c_str(), 01777), 0);

    const CommandResult spec = run({"runc", "spec", "--bundle", bundle_});
    ASSERT_EQ(spec.exit_code, 0) << spec.err;
    config_ = nlohmann::json::parse(read_text(bundle_ + "/config.json"));
    config_["process"]["terminal"] = false;
    config_["process"]["args"] = {"sh", "-c", "echo ran > /tmp/ran"};
    config_["process"]["env"] = {"PATH=/bin"};
    config_["root"]["readonly"] = false;
    keys_ = dir_ / "keys";
    manifest_ = dir_ / "image.manifest";
    set_hook({"--keyring", keys_});
    config_["annotations"][kManifestAnnotation] = manifest_;
    // runc puts a failed hook's stderr into its error; crun drops it unless told where to write
    // it (its run.oci.hooks.stderr annotation), which is how an operator reads the refusal.
    config_["annotations"]["run.oci.hooks.stderr"] = hook_stderr_;
    save_config();

    std::filesystem::create_directories(keys_);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "image-key"}).exit_code, 0);
    std::filesystem::copy_file(dir_ / "image-key.crt", keys_ + "/image-key.crt");
    sign_with(dir_ / "image-key");
  }

  void TearDown() override {
    for (const std::string& id : started_) {
      const CommandResult deleted = run({runtime(), "delete", "-f", id}, 30);
      const CommandResult state = run({runtime(), "state", id}, 30);
      EXPECT_NE(state.exit_code, 0) << "container " << id << " left behind: " << deleted.err;
    }
  }

  const std::string& runtime() const { return GetParam(); }

  static constexpr const char* kManifestAnnotation = "io.vigil.image.manifest";

  void set_hook(std::vector<std::string> hook_args) {
    hook_args.insert(hook_args.begin(), {"vigil", "oci-hook"});
    nlohmann::json hook = nlohmann::json::object();
    hook["path"] = vigil_binary();
    hook["args"] = hook_args;
    hook["timeout"] = 60;
    config_["hooks"] = nlohmann::json::object();
    config_["hooks"]["createRuntime"] = nlohmann::json::array({hook});
  }
  void save_config() { write_text(bundle_ + "/config.json", config_.dump(2)); }

  void sign_with(const std::string& key_prefix) {
    const CommandResult signed_image =
        run_vigil({"image", "sign", rootfs_, "--key", key_prefix + ".key", "-o", manifest_});
    ASSERT_EQ(signed_image.exit_code, 0) << signed_image.err;
  }

  // Runs the container in the foreground (its program exits at once) and deletes it.
  CommandResult start() {
    const std::string id = random_id();
    started_.push_back(id);
    if (runtime() == "runc") return run({"runc", "run", "--bundle", bundle_, id}, 90);
    // crun refuses hybrid cgroup hosts (v1 controllers beside a v2 hierarchy that has one, as
    // this CI host): in a mount namespace of its own the v2 mount is taken away, so crun sees
    // plain v1, and it makes no cgroups at all. The hook runs exactly as it would otherwise.
    return run_shell("unshare -m --propagation private sh -c " +
                         shell_quote("umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled "
                                     "run --bundle " + shell_quote(bundle_) + " " + id),
                     90);
  }

  bool program_ran() const { return exists(rootfs_ + "/tmp/ran"); }

  // The container did not start, its program never ran, and the runtime's error names `path`.
  void expect_refused(const std::string& path) {
    const CommandResult result = start();
    EXPECT_NE(result.exit_code, 0) << "started although tampered:\n" << result.out << result.err;
    EXPECT_FALSE(program_ran()) << "the container's program ran";
    std::string output = result.out + result.err;
    if (exists(hook_stderr_)) output += read_text(hook_stderr_);
    EXPECT_NE(output.find("vigil oci-hook: refused"), std::string::npos) << output;
    EXPECT_NE(output.find(path), std::string::npos) << "the message does not name " << path << ":\n" << output;
  }

  TempDir dir_;
  std::string bundle_;
  std::string rootfs_;
  std::string keys_;
  std::string manifest_;
  nlohmann::json config_;
  std::vector<std::string> started_;
  std::string hook_stderr_ = dir_ / "hook-stderr";
};

TEST_P(OciHookTest, SignedImageStarts) {
  const CommandResult result = start();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_TRUE(program_ran());
}

TEST_P(OciHookTest, OneByteChangedIsRefused) {
  {
    std::fstream file(rootfs_ + "/etc/passwd", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(0);
    file.put('R');
  }
  expect_refused(rootfs_ + "/etc/passwd: content");
}

TEST_P(OciHookTest, AddedFileIsRefused) {
  write_text(rootfs_ + "/bin/dropped", "#!/bin/sh\n");
  expect_refused(rootfs_ + "/bin/dropped");
}

TEST_P(OciHookTest, RemovedFileIsRefused) {
  ASSERT_EQ(::unlink((rootfs_ + "/etc/group").c_str()), 0);
  expect_refused(rootfs_ + "/etc/group");
}

TEST_P(OciHookTest, ModeChangeIsRefused) {
  ASSERT_EQ(::chmod((rootfs_ + "/bin/busybox").c_str(), 04755), 0);
  expect_refused(rootfs_ + "/bin/busybox: mode 0755 -> 4755");
}

TEST_P(OciHookTest, RetargetedSymlinkIsRefused) {
  ASSERT_EQ(::unlink((rootfs_ + "/bin/cat").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (rootfs_ + "/bin/cat").c_str()), 0);
  expect_refused(rootfs_ + "/bin/cat: symlink target busybox -> /etc/passwd");
}

TEST_P(OciHookTest, AddedDeviceNodeIsRefused) {
  ASSERT_EQ(::mknod((rootfs_ + "/etc/mem").c_str(), S_IFCHR | 0666, ::makedev(1, 1)), 0);
  expect_refused(rootfs_ + "/etc/mem: character device 1:1");
}

TEST_P(OciHookTest, HardLinkFromOutsideTheImageIsRefused) {
  // A path outside the image that is the same file as one in it: what is written there changes
  // the container's file after verification.
  ASSERT_EQ(::link((rootfs_ + "/etc/passwd").c_str(), (dir_ / "host-side-passwd").c_str()), 0);
  expect_refused(rootfs_ + "/etc/passwd: hard-linked from outside");
}

TEST_P(OciHookTest, HardLinkBetweenImageFilesIsRefused) {
  ASSERT_EQ(::unlink((rootfs_ + "/etc/group").c_str()), 0);
  ASSERT_EQ(::link((rootfs_ + "/etc/passwd").c_str(), (rootfs_ + "/etc/group").c_str()), 0);
  // etc/group sorts first: it is the file, etc/passwd the link to it.
  expect_refused(rootfs_ + "/etc/passwd: hard links: a file of its own -> same file as etc/group");
}

TEST_P(OciHookTest, ManifestByUntrustedKeyIsRefused) {
  ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "stranger"}).exit_code, 0);
  sign_with(dir_ / "stranger");
  expect_refused("untrusted manifest: signed by key");
}

TEST_P(OciHookTest, TruncatedManifestIsRefused) {
  const std::string text = read_text(manifest_);
  write_text(manifest_, text.substr(0, text.size() / 2));
  expect_refused(manifest_ + ": manifest: line");
}

TEST_P(OciHookTest, MissingManifestIsRefused) {
  ASSERT_EQ(::unlink(manifest_.c_str()), 0);
  expect_refused("cannot read the manifest (annotation io.vigil.image.manifest): " + manifest_);
}

TEST_P(OciHookTest, HookWithoutKeyringIsRefused) {
  set_hook({});
  save_config();
  expect_refused("no keyring configured");
}

TEST_P(OciHookTest, ManifestFoundInDirectoryByImageName) {
  config_["annotations"].erase(kManifestAnnotation);
  config_["annotations"]["io.vigil.image.name"] = "busybox-1.35";
  set_hook({"--keyring", keys_, "--manifest-dir", dir_ / "manifests"});
  save_config();
  std::filesystem::create_directories(dir_ / "manifests");
  std::filesystem::copy_file(manifest_, dir_ / "manifests/busybox-1.35.manifest");
  const CommandResult result = start();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_TRUE(program_ran());
}

TEST_P(OciHookTest, NoManifestForContainerIsRefused) {
  config_["annotations"].erase(kManifestAnnotation);
  save_config();
  expect_refused("no annotation io.vigil.image.manifest and no --manifest-dir");
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OciHookTest, ::testing::Values("runc", "crun"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace vigil::test
