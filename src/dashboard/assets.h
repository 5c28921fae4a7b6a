#pragma once
// The dashboard's files (dashboard/, built by Vite), embedded at build time by
// cmake/Dashboard.cmake. Builds without node (VIGIL_DASHBOARD=OFF, fuzz, sanitize) embed a
// placeholder index.html instead. docs/dashboard.md.
#include <span>
#include <string_view>

namespace vigil::dashboard {

struct Asset {
  std::string_view path;          // "/index.html", "/assets/index-abc.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", "text/javascript; charset=utf-8", ...
  std::string_view body;
};

// The file at `path` (starting with '/'); nullptr if there is no such file.
const Asset* find_asset(std::string_view path);

// Every file, sorted by path.
std::span<const Asset> all_assets();

// True when the real dashboard is embedded, false for the placeholder.
bool built();

}  // namespace vigil::dashboard
