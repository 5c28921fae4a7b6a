#include "agent/dashboard_files.h"

namespace vigil::agent {

// Until the dashboard build lands, the console serves its API only.
web::StaticFiles dashboard_files() { return nullptr; }

}  // namespace vigil::agent
