#pragma once
// The dashboard's files as the console server wants them: the build embeds them
// (src/dashboard); a build without node serves a page saying so.
#include "web/http/server.h"

namespace vigil::agent {

web::StaticFiles dashboard_files();

}  // namespace vigil::agent
