#pragma once
// The agent's image socket (docs/image.md, "Measurement"): `vigil oci-hook --agent-socket`
// tells the agent, once it verified a container's rootfs, the container's id and its manifest's
// digest; the agent appends that to its measurement list (extending the PCR) before the hook
// lets the container start. An AF_UNIX socket in the state directory, created 0600, and
// SO_PEERCRED checked on every connection (root or the agent's user only). One request a
// connection: one JSON line in, one JSON line out.
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/error.h"
#include "image/image.h"

namespace vigil::agent {

class ImageSocket {
 public:
  using Record = std::function<Result<void>(const image::ImageMeasurement&)>;
  static Result<std::unique_ptr<ImageSocket>> start(std::string socket_path, Record record);
  ~ImageSocket();  // stops the thread and removes the socket
  ImageSocket(const ImageSocket&) = delete;
  ImageSocket& operator=(const ImageSocket&) = delete;

 private:
  ImageSocket() = default;
  void run();
  void answer(int client);

  std::string path_;
  Record record_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: written to stop the thread
  std::thread thread_;
};

std::string image_socket_path(const std::string& state_dir);  // STATE_DIR/image.sock

}  // namespace vigil::agent
