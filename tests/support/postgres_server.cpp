#include "support/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace vigil::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for `pid` up to timeout_ms; true once it is reaped.
bool reap_within(pid_t pid, int timeout_ms, int* status) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const pid_t done = ::waitpid(pid, status, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Forks, drops to uid/gid (when running as root), sends output to `log`, and execs argv. With
// die_with_parent the child gets SIGKILL when the test process dies (set after the uid change,
// which would clear it).
pid_t spawn(const std::vector<std::string>& argv, uid_t uid, gid_t gid, const std::string& log, bool die_with_parent) {
  std::vector<char*> args;  // built before fork: the child of a threaded process may not allocate
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child != 0) return child;
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out >= 0) {
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
  }
  const int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, STDIN_FILENO);
  if (::geteuid() == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
  }
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);
  }
  ::setsid();  // its own session: the test's terminal signals are not its
  ::execv(args[0], args.data());
  ::_exit(127);
}

std::string with_connection(const std::string& url, const std::function<std::string(PGconn*)>& work) {
  PGconn* connection = PQconnectdb(url.c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string message = PQerrorMessage(connection);
    PQfinish(connection);
    return "cannot connect: " + message;
  }
  std::string result = work(connection);
  PQfinish(connection);
  return result;
}

// Directories of servers whose test died before its cleanup (a crash, SIGKILL): older than ten
// minutes and without a live postmaster. The postmaster itself died with its test (its parent
// death signal).
void remove_abandoned_servers() {
  std::error_code error;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", error)) {
    if (!entry.path().filename().string().starts_with("vigil-pg-") || !entry.is_directory(error)) continue;
    const auto modified = std::filesystem::last_write_time(entry.path(), error);
    if (error || now - modified < std::chrono::minutes(10)) continue;
    const std::string pid_text = read_all(entry.path().string() + "/data/postmaster.pid");
    const long pid = pid_text.empty() ? 0 : std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
    std::filesystem::remove_all(entry.path(), error);
  }
}

}  // namespace

std::string PostgresServer::bin_dir() {
  const std::string dir = "/usr/lib/postgresql/15/bin";
  return ::access((dir + "/postgres").c_str(), X_OK) == 0 && ::access((dir + "/initdb").c_str(), X_OK) == 0 ? dir : "";
}

PostgresServer::~PostgresServer() {
  stop();
  if (!root_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
}

std::string PostgresServer::start() {
  const std::string bin = bin_dir();
  if (bin.empty()) return "PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin; Debian package postgresql-15)";
  remove_abandoned_servers();
  // /tmp rather than $TMPDIR: the socket path must stay under 108 bytes.
  char templ[] = "/tmp/vigil-pg-XXXXXX";
  if (::mkdtemp(templ) == nullptr) return "mkdtemp failed";
  root_ = templ;
  uid_ = ::getuid();
  gid_ = ::getgid();
  if (::geteuid() == 0) {
    // initdb refuses root; nobody owns nothing else, so the server can touch only its directory.
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) return "no user nobody to run PostgreSQL as";
    uid_ = nobody->pw_uid;
    gid_ = nobody->pw_gid;
  }
  for (const std::string& dir : {root_, root_ + "/data", root_ + "/socket"}) {
    if (dir != root_ && ::mkdir(dir.c_str(), 0700) != 0) return "cannot create " + dir;
    if (::chown(dir.c_str(), uid_, gid_) != 0 || ::chmod(dir.c_str(), 0700) != 0) return "cannot hand " + dir + " over";
  }
  const std::string log = root_ + "/initdb.log";
  const pid_t initdb = spawn({bin + "/initdb", "-D", root_ + "/data", "-U", "vigil", "-A", "trust", "-E", "UTF8",
                              "--locale=C", "--no-sync", "--no-instructions"},
                             uid_, gid_, log, true);
  int status = 0;
  if (!reap_within(initdb, 120'000, &status)) {
    ::kill(initdb, SIGKILL);
    reap_within(initdb, 5000, &status);
    return "initdb took over 120 s";
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "initdb failed: " + read_all(log);
  return launch();
}

std::string PostgresServer::launch() {
  const std::string log = root_ + "/postgres.log";
  // fsync off: these servers die by signal, never with the machine, and the page cache survives
  // a process kill; synchronous_commit stays on, so an acknowledged commit is in the WAL.
  postmaster_ = spawn({bin_dir() + "/postgres", "-D", root_ + "/data", "-k", root_ + "/socket", "-c",
                       "listen_addresses=", "-c", "max_connections=60", "-c", "shared_buffers=16MB", "-c", "fsync=off",
                       "-c", "full_page_writes=off", "-c", "logging_collector=off"},
                      uid_, gid_, log, true);
  if (postmaster_ <= 0) return "cannot fork the postmaster";
  if (!wait_ready(60'000)) {
    const std::string tail = read_all(log);
    stop();
    return "PostgreSQL did not accept connections within 60 s: " + tail;
  }
  return "";
}

bool PostgresServer::wait_ready(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const std::string conninfo = url();
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(postmaster_, &status, WNOHANG) == postmaster_) {
      postmaster_ = -1;
      return false;
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void PostgresServer::stop() {
  if (postmaster_ <= 0) return;
  int status = 0;
  ::kill(postmaster_, SIGQUIT);  // pg_ctl stop -m immediate
  if (!reap_within(postmaster_, 10'000, &status)) {
    ::kill(postmaster_, SIGKILL);
    reap_within(postmaster_, 5000, &status);
  }
  postmaster_ = -1;
}

std::string PostgresServer::restart() {
  stop();
  return launch();
}

std::string PostgresServer::url(const std::string& name) const {
  return "postgresql:///" + name + "?host=" + root_ + "/socket&user=vigil";
}

std::string PostgresServer::create_database(const std::string& name) {
  return exec("postgres", "CREATE DATABASE \"" + name + "\"");
}

std::string PostgresServer::exec(const std::string& name, const std::string& sql) {
  return with_connection(url(name), [&](PGconn* connection) -> std::string {
    PGresult* result = PQexec(connection, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    std::string message = (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) ? "" : PQresultErrorMessage(result);
    PQclear(result);
    return message;
  });
}

std::string PostgresServer::query_value(const std::string& name, const std::string& sql, std::string* error) {
  std::string value;
  const std::string problem = with_connection(url(name), [&](PGconn* connection) -> std::string {
    PGresult* result = PQexec(connection, sql.c_str());
    std::string message;
    if (PQresultStatus(result) != PGRES_TUPLES_OK) message = PQresultErrorMessage(result);
    else if (PQntuples(result) > 0 && PQnfields(result) > 0) value = PQgetvalue(result, 0, 0);
    PQclear(result);
    return message;
  });
  if (error != nullptr) *error = problem;
  return value;
}

PostgresServer* shared_postgres(std::string* why) {
  static std::unique_ptr<PostgresServer> server;
  static std::string problem;
  static bool tried = false;
  if (!tried) {
    tried = true;
    server = std::make_unique<PostgresServer>();
    problem = server->start();
    if (!problem.empty()) server.reset();
  }
  if (why != nullptr) *why = problem;
  return server.get();
}

std::string postgres_database(std::string* url) {
  static int serial = 0;
  std::string why;
  PostgresServer* server = shared_postgres(&why);
  if (server == nullptr) return why;
  const std::string name = "test_" + std::to_string(::getpid()) + "_" + std::to_string(++serial);
  if (auto made = server->create_database(name); !made.empty()) return "CREATE DATABASE: " + made;
  *url = server->url(name);
  return "";
}

}  // namespace vigil::test
