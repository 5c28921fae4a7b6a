// How many agents one verifier sustains at a 2 s interval (bench/verifier.sh). The verifier runs
// as `vigil verifier run` would (its default worker threads, SQLite registry, mutual TLS); each
// simulated agent is enrolled in the registry directly (AK = a software key, as
// tests/unit/attest_test_quotes.h makes them), and every interval opens a TLS connection with
// its own client certificate, fetches a challenge, quotes the nonce and sends the entries it
// measured since the last round. An agent count is sustained when every agent completed its
// rounds on schedule, every round was judged trusted, and p99 round time stays under the
// interval. Clients share the 2 cores with the verifier, so the figure is a lower bound.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/evidence_json.h"
#include "attest/net/registry.h"
#include "attest/net/verifier.h"
#include "attest/runtime_policy.h"
#include "unit/attest_test_quotes.h"

namespace fs = std::filesystem;
using namespace vigil;
using namespace vigil::test::attest;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  fs::path dir;
  std::vector<size_t> agent_counts = {50, 100, 200, 400};
  std::chrono::milliseconds interval{2000};
  double seconds = 12;
  size_t entries_per_round = 20;
  size_t client_threads = 4;
};

struct SimulatedAgent {
  std::string id;
  fs::path cert_dir;
  std::unique_ptr<SoftwareTpm> tpm;
  MeasuredList list;
  size_t next_file = 0;
  Clock::time_point first_due;
  Clock::time_point due;
  size_t rounds_done = 0;
};

ima::MeasurementEntry agent_file(size_t index) {
  return file_entry("/opt/app/bin/tool" + std::to_string(index), "tool " + std::to_string(index));
}

struct Tally {
  std::mutex mutex;
  std::vector<double> round_ms;
  size_t failed = 0;
  size_t late = 0;
  std::string first_failure;
};

// One round of one agent over a fresh mutual-TLS connection.
void run_round(const fs::path& state, int port, SimulatedAgent& agent, size_t entries, Tally& tally) {
  const auto began = Clock::now();
  httplib::SSLClient client("127.0.0.1", port, (agent.cert_dir / "agent.crt").string(),
                            (agent.cert_dir / "agent.key").string());
  client.set_ca_cert_path((state / "ca.crt").string());
  client.enable_server_certificate_verification(true);
  client.set_keep_alive(true);  // challenge and evidence on one connection, closed after the round
  client.set_tcp_nodelay(true);   // as the agent's client does
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(10, 0);
  const auto fail = [&](const std::string& why) {
    std::lock_guard lock(tally.mutex);
    if (tally.failed++ == 0) tally.first_failure = agent.id + ": " + why;
  };
  auto challenge_reply = client.Get("/v1/challenge");
  if (!challenge_reply || challenge_reply->status != 200) {
    return fail("challenge: " + (challenge_reply ? challenge_reply->body : httplib::to_string(challenge_reply.error())));
  }
  auto challenge = attest::parse_round_challenge(challenge_reply->body);
  if (!challenge) return fail("challenge: " + challenge.error().message);
  for (size_t i = 0; i < entries; ++i) agent.list.record(*agent.tpm, agent_file(agent.next_file++));
  const auto evidence = round_evidence(*agent.tpm, challenge->nonce, agent.list, challenge->list_start);
  auto answer = client.Post("/v1/evidence", attest::to_json(evidence), "application/json");
  if (!answer || answer->status != 200) {
    return fail("evidence: " + (answer ? answer->body : httplib::to_string(answer.error())));
  }
  const auto reply = nlohmann::json::parse(answer->body, nullptr, false);
  if (!reply.is_object() || reply.value("state", "") != "trusted") return fail("not trusted: " + answer->body);
  client.stop();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  std::lock_guard lock(tally.mutex);
  tally.round_ms.push_back(ms);
}

struct Outcome {
  size_t agents = 0;
  size_t rounds = 0;
  size_t expected_rounds = 0;
  size_t failed = 0;
  size_t late = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double verifier_cpu_percent = 0;
  bool sustained = false;
  std::string first_failure;
};

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

Outcome run_with(const Options& options, size_t count, const attest::RuntimePolicy& policy) {
  const fs::path state = options.dir / ("agents-" + std::to_string(count));
  fs::create_directories(state);
  attest::VerifierConfig config;
  config.state_dir = state.string();
  config.listen = "127.0.0.1:0";
  config.interval = options.interval;
  auto verifier = attest::Verifier::start(config);
  if (!verifier) {
    std::fprintf(stderr, "verifier_agents: %s\n", verifier.error().message.c_str());
    std::exit(1);
  }
  const std::string policy_json = attest::runtime_policy_json(policy);
  std::vector<SimulatedAgent> agents(count);
  const auto start = Clock::now() + std::chrono::milliseconds(500);
  for (size_t i = 0; i < count; ++i) {
    SimulatedAgent& agent = agents[i];
    agent.id = "agent-" + std::to_string(i);
    agent.cert_dir = state / "certs" / agent.id;
    if (auto issued = attest::issue_agent_certificate(state.string(), agent.id, agent.cert_dir.string()); !issued) {
      std::fprintf(stderr, "verifier_agents: %s\n", issued.error().message.c_str());
      std::exit(1);
    }
    agent.tpm = std::make_unique<SoftwareTpm>();
    agent.list.record_boot_aggregate(*agent.tpm);
    attest::AgentRecord record;
    record.id = agent.id;
    record.ak_public = SoftwareTpm::marshalled_public(agent.tpm->ak().key);
    record.expected_ek = record.ak_public;  // enrolment is not measured here
    record.policy_json = policy_json;
    record.activated = true;
    record.progress = attest::initial_progress();
    if (auto stored = (*verifier)->registry().put_agent(record); !stored) {
      std::fprintf(stderr, "verifier_agents: %s\n", stored.error().message.c_str());
      std::exit(1);
    }
    // Spread over the interval, as agents started at different times are.
    agent.first_due = start + options.interval * static_cast<int64_t>(i) / static_cast<int64_t>(count);
    agent.due = agent.first_due;
  }

  Tally tally;
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  const double cpu_before = process_cpu_seconds();
  // A worker takes the agent whose round is due soonest among its share (agents i with
  // i % threads == t), sleeps until it is due, runs it, and schedules its next round.
  std::vector<std::thread> workers;
  for (size_t t = 0; t < options.client_threads; ++t) {
    workers.emplace_back([&, t] {
      for (;;) {  // until this share has no round due before the end
        SimulatedAgent* soonest = nullptr;
        for (size_t i = t; i < agents.size(); i += options.client_threads) {
          if (soonest == nullptr || agents[i].due < soonest->due) soonest = &agents[i];
        }
        if (soonest == nullptr || soonest->due >= end) break;
        const auto now = Clock::now();
        if (now < soonest->due) std::this_thread::sleep_until(soonest->due);
        else if (now - soonest->due > options.interval) {
          std::lock_guard lock(tally.mutex);
          ++tally.late;  // a whole interval behind: this agent would have missed a round
        }
        run_round(state, (*verifier)->port(), *soonest, options.entries_per_round, tally);
        ++soonest->rounds_done;
        soonest->due += options.interval;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double cpu_seconds = process_cpu_seconds() - cpu_before;
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  (*verifier)->stop();

  Outcome outcome;
  outcome.agents = count;
  outcome.rounds = tally.round_ms.size();
  for (const auto& agent : agents) {
    const auto span = end - agent.first_due;
    outcome.expected_rounds += static_cast<size_t>((span + options.interval - Clock::duration(1)) / options.interval);
  }
  outcome.failed = tally.failed;
  outcome.late = tally.late;
  outcome.first_failure = tally.first_failure;
  std::sort(tally.round_ms.begin(), tally.round_ms.end());
  if (!tally.round_ms.empty()) {
    outcome.p50_ms = tally.round_ms[tally.round_ms.size() / 2];
    outcome.p99_ms = tally.round_ms[std::min(tally.round_ms.size() - 1, tally.round_ms.size() * 99 / 100)];
  }
  // Both sides' CPU (one process): how busy the 2 cores were.
  outcome.verifier_cpu_percent = wall > 0 ? 100.0 * cpu_seconds / wall : 0;
  outcome.sustained = outcome.failed == 0 && outcome.late == 0 && outcome.rounds >= outcome.expected_rounds &&
                      outcome.p99_ms < static_cast<double>(options.interval.count());
  return outcome;
}

std::vector<size_t> parse_counts(const std::string& text) {
  std::vector<size_t> counts;
  size_t position = 0;
  while (position < text.size()) {
    const size_t comma = text.find(',', position);
    counts.push_back(std::stoul(text.substr(position, comma - position)));
    if (comma == std::string::npos) break;
    position = comma + 1;
  }
  return counts;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--dir") options.dir = value;
    else if (flag == "--agents") options.agent_counts = parse_counts(value);
    else if (flag == "--seconds") options.seconds = std::stod(value);
    else if (flag == "--entries") options.entries_per_round = std::stoul(value);
    else if (flag == "--client-threads") options.client_threads = std::stoul(value);
    else {
      std::fprintf(stderr, "usage: %s --dir DIR [--agents N,N,...] [--seconds S] [--entries N] [--client-threads N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (options.dir.empty() || options.agent_counts.empty() || options.client_threads == 0) {
    std::fprintf(stderr, "verifier_agents: --dir is required\n");
    return 2;
  }
  // Every agent measures files from the same pool; the policy allows them all.
  std::vector<ima::MeasurementEntry> allowed;
  const size_t files = options.entries_per_round * (static_cast<size_t>(options.seconds * 1000) /
                                                    static_cast<size_t>(options.interval.count()) + 3);
  for (size_t i = 0; i < files; ++i) allowed.push_back(agent_file(i));
  const attest::RuntimePolicy policy = attest::generate_from_measurements(allowed);

  size_t best = 0;
  for (const size_t count : options.agent_counts) {
    const Outcome outcome = run_with(options, count, policy);
    std::printf("{\"agents\": %zu, \"rounds\": %zu, \"expected_rounds\": %zu, \"failed\": %zu, \"late\": %zu, "
                "\"p50_ms\": %.1f, \"p99_ms\": %.1f, \"cpu_percent\": %.0f, \"sustained\": %s}\n",
                outcome.agents, outcome.rounds, outcome.expected_rounds, outcome.failed, outcome.late, outcome.p50_ms,
                outcome.p99_ms, outcome.verifier_cpu_percent, outcome.sustained ? "true" : "false");
    if (!outcome.first_failure.empty()) std::fprintf(stderr, "first failure: %s\n", outcome.first_failure.c_str());
    std::fflush(stdout);
    if (!outcome.sustained) break;
    best = count;
  }
  std::printf("{\"sustained_agents\": %zu, \"interval_ms\": %lld, \"entries_per_round\": %zu}\n", best,
              static_cast<long long>(options.interval.count()), options.entries_per_round);
  return 0;
}
