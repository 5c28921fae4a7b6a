#include "agent/dashboard_files.h"

#include "dashboard/assets.h"

namespace vigil::agent {

web::StaticFiles dashboard_files() {
  return [](std::string_view path) -> std::optional<web::StaticFile> {
    const dashboard::Asset* asset = dashboard::find_asset(path);
    if (asset == nullptr) return std::nullopt;
    return web::StaticFile{asset->content_type, asset->body};
  };
}

}  // namespace vigil::agent
