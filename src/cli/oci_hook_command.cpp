// `vigil oci-hook`: an OCI createRuntime hook (docs/image.md). The runtime runs it after the
// container's root filesystem is prepared and before the container's program starts; a non-zero
// exit makes runc and crun tear the container down. Every way it can end other than a verified
// rootfs is a refusal, with a message naming the container and the path.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/batch_runner.h"
#include "cli/commands.h"
#include "common/path_text.h"
#include "image/image.h"

namespace vigil::cli {
namespace {

constexpr size_t kMaxStateSize = 1 << 20;
constexpr size_t kMaxDifferencesShown = 20;

struct OciHookArgs {
  std::vector<std::string> keyrings;
  std::vector<std::string> certs;
  std::string manifest_dir;
  std::string agent_socket;
  unsigned jobs = 0;
};

Result<std::vector<uint8_t>> read_stdin() {
  std::vector<uint8_t> bytes;
  uint8_t buffer[65536];
  for (;;) {
    const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail_errno("cannot read the OCI state from stdin");
    }
    if (got == 0) return bytes;
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (bytes.size() > kMaxStateSize) return fail("the OCI state on stdin is larger than 1 MiB");
  }
}

int refuse(const std::string& message) {
  std::fprintf(stderr, "vigil oci-hook: refused: %s\n", message.c_str());
  return kExitFailures;
}

int run_oci_hook(const OciHookArgs& args) {
  if (args.keyrings.empty() && args.certs.empty()) {
    return refuse("no keyring configured: give the hook --keyring DIR (or --cert FILE) in config.json's hooks");
  }
  ima::Keyring keyring;
  for (const auto& dir : args.keyrings) {
    auto loaded = keyring.load_directory(dir);
    if (!loaded) return refuse("--keyring " + loaded.error().message);
  }
  for (const auto& cert : args.certs) {
    if (auto loaded = keyring.load_file(cert); !loaded) return refuse("--cert " + loaded.error().message);
  }
  auto input = read_stdin();
  if (!input) return refuse(input.error().message);
  auto state = image::parse_hook_state(*input);
  if (!state) return refuse(state.error().message);
  auto target = image::locate_hook_target(*state, args.manifest_dir);
  if (!target) return refuse("container " + state->id + ": " + target.error().message);
  auto manifest = crypto::read_file(target->manifest, image::kMaxManifestSize);
  if (!manifest) {
    return refuse("container " + state->id + ": cannot read the manifest (" + target->found_by +
                  "): " + manifest.error().message);
  }
  const unsigned jobs = args.jobs ? args.jobs : default_jobs();
  const image::Verification result = image::verify_tree(
      target->rootfs, *manifest, keyring, [jobs](size_t count, const std::function<void(size_t)>& work) {
        run_batch(count, jobs, "verifying", false, work);
      });
  const std::string where = "container " + state->id + ": rootfs " + printable_path(target->rootfs) + " against " +
                            printable_path(target->manifest);
  switch (result.status) {
    case image::Verification::Status::ok: {
      if (args.agent_socket.empty()) return kExitOk;
      // Measured before it may start: an image that ran must be in the list an attestation shows.
      const image::ImageMeasurement measurement{state->id, result.manifest->file_digest};
      if (auto sent = image::send_image_measurement(args.agent_socket, measurement); !sent) {
        return refuse(where + ": verified, but the measurement could not be recorded: " + sent.error().message);
      }
      return kExitOk;
    }
    case image::Verification::Status::untrusted:
      return refuse(where + ": untrusted manifest: " + result.reason);
    case image::Verification::Status::malformed:
      return refuse(where + ": " + result.reason);
    case image::Verification::Status::differs:
      break;
  }
  std::string message = where + ": " + std::to_string(result.differences.size()) + " difference(s)";
  for (size_t i = 0; i < result.differences.size() && i < kMaxDifferencesShown; ++i) {
    const auto& difference = result.differences[i];
    message += "\n  " + std::string(image::difference_kind_name(difference.kind)) + " " +
               printable_path(target->rootfs + "/" + difference.path) + ": " + difference.detail;
  }
  if (result.differences.size() > kMaxDifferencesShown) {
    message += "\n  ... and " + std::to_string(result.differences.size() - kMaxDifferencesShown) + " more";
  }
  return refuse(message);
}

}  // namespace

void add_oci_hook_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<OciHookArgs>();
  CLI::App* hook = app.add_subcommand(
      "oci-hook", "OCI createRuntime hook: refuse a container whose rootfs does not match its signed manifest");
  hook->add_option("--keyring", args->keyrings, "Directory of trusted certificates or public keys")
      ->allow_extra_args(false);
  hook->add_option("--cert", args->certs, "A trusted certificate or public key (repeatable)")->allow_extra_args(false);
  hook->add_option("--manifest-dir", args->manifest_dir,
                   "Where manifests are found without the io.vigil.image.manifest annotation: NAME.manifest for "
                   "io.vigil.image.name, else CONTAINER-ID.manifest");
  hook->add_option("--agent-socket", args->agent_socket,
                   "Record the verified manifest's digest in the agent's measurement list through its image "
                   "socket (STATE_DIR/image.sock); the container is refused if that fails");
  hook->add_option("--jobs,-j", args->jobs, "Worker threads (default: one per core)");
  hook->callback([args, &exit_code] { exit_code = run_oci_hook(*args); });
}

}  // namespace vigil::cli
