#pragma once
// A private PostgreSQL 15 server for one test program (Debian's postgresql-15): initdb into a
// fresh directory, run as an unprivileged user (nobody when the tests run as root), listening on
// a Unix socket in that directory only (listen_addresses=''), never on TCP. The postmaster is a
// child of the test with PR_SET_PDEATHSIG, so a test killed by ctest's timeout does not leave it
// behind; stop() is pg_ctl's "immediate" mode (SIGQUIT) and the destructor removes everything.
// The parent death signal follows the thread that forked: call start() and restart() from a
// thread that outlives the server (the test's main thread), never from a short-lived one.
#include <sys/types.h>

#include <string>

#include "support/test_support.h"

namespace vigil::test {

class PostgresServer {
 public:
  // The server binaries (initdb, postgres), or "" when PostgreSQL 15 is not installed.
  static std::string bin_dir();

  PostgresServer() = default;
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // initdb and start; "" on success, else what went wrong.
  std::string start();
  // Stops at once, as a crash would (SIGQUIT: no checkpoint; the next start replays the WAL).
  void stop();
  // Starts again on the same data directory; "" on success.
  std::string restart();
  bool running() const { return postmaster_ > 0; }

  // libpq URL of database `name` over the private socket (the superuser "vigil", trust auth).
  std::string url(const std::string& name = "postgres") const;
  // CREATE DATABASE name (dropped with the server); "" on success.
  std::string create_database(const std::string& name);
  // Runs one SQL text on database `name`; "" on success, else the error.
  std::string exec(const std::string& name, const std::string& sql);
  // The first column of the first row of a query ("" when there is none); error in *error.
  std::string query_value(const std::string& name, const std::string& sql, std::string* error = nullptr);

 private:
  std::string launch();
  bool wait_ready(int timeout_ms);

  std::string root_;      // temp dir: data/, socket/, log
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t postmaster_ = -1;
};

// The test program's one server, started at first use and stopped at exit; nullptr (and why)
// when it cannot run.
PostgresServer* shared_postgres(std::string* why = nullptr);
// A new empty database on the shared server: its URL in *url, or why there is none.
std::string postgres_database(std::string* url);

}  // namespace vigil::test

// Skips the test when PostgreSQL cannot run (problem not empty), but fails it under CI=true:
// there the PostgreSQL tests are required.
#define VIGIL_REQUIRE_POSTGRES(problem)                                   \
  do {                                                                    \
    if (!(problem).empty()) {                                             \
      if (::vigil::test::in_ci()) FAIL() << "PostgreSQL: " << (problem);  \
      GTEST_SKIP() << "PostgreSQL: " << (problem);                        \
    }                                                                     \
  } while (false)
