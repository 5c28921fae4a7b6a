// Verifier throughput (bench/verifier.sh): recorded attestation rounds, each a quote over PCRs
// 0-7 and 10 plus a 1,000-entry measurement-list delta, judged as the verifier judges them on
// the wire (parse the evidence JSON, check the quote, replay the delta to the quoted PCR 10,
// check every entry against the runtime policy). Writes the same rounds in the form a
// Keylime-style verifier consumes (tpm2_checkquote inputs + ascii list) for the peer script.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/appraisal.h"
#include "attest/evidence_json.h"
#include "attest/runtime_policy.h"
#include "common/hex_text.h"
#include "unit/attest_test_quotes.h"

namespace fs = std::filesystem;
using namespace vigil;
using namespace vigil::test::attest;

namespace {

struct Options {
  fs::path dir;
  size_t rounds = 20;
  size_t entries = 1000;
  size_t threads = 2;
  double seconds = 5;
};

struct RecordedRound {
  std::vector<uint8_t> nonce;
  attest::ListProgress progress;  // what the verifier remembers before this round
  std::string evidence_json;      // the POST /v1/evidence body
};

void write_bytes(const fs::path& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Programs and libraries a host runs: distinct paths, contents and digests.
ima::MeasurementEntry program_entry(size_t index) {
  const std::string path = "/usr/lib/x86_64-linux-gnu/app" + std::to_string(index / 50) + "/lib" +
                           std::to_string(index) + ".so";
  return file_entry(path, "contents of program " + std::to_string(index));
}

// Records rounds: each round the agent measures `entries` new files, the TPM quotes a fresh
// nonce, and the delta since the previous round is the evidence. The policy allows every file.
std::vector<RecordedRound> record(const Options& options, SoftwareTpm& tpm, attest::RuntimePolicy& policy) {
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  std::vector<RecordedRound> rounds;
  attest::ListProgress progress = attest::initial_progress();
  fs::create_directories(options.dir);
  size_t next_file = 0;
  // The policy first: every file every round will measure.
  std::vector<ima::MeasurementEntry> all;
  for (size_t i = 0; i < options.rounds * options.entries; ++i) all.push_back(program_entry(i));
  policy = attest::generate_from_measurements(all);
  write_text(options.dir / "policy.json", attest::runtime_policy_json(policy));
  nlohmann::json allowlist = {{"meta", {{"version", 1}}}, {"digests", nlohmann::json::object()}, {"excludes", nlohmann::json::array()}};
  for (const auto& entry : all) allowlist["digests"][entry.path] = {entry.file_digest.hex()};
  write_text(options.dir / "allowlist.json", allowlist.dump());
  write_text(options.dir / "ak.pem", tpm::public_key_pem(tpm.ak()));

  for (size_t round = 0; round < options.rounds; ++round) {
    const uint64_t start = progress.entries_verified;
    for (size_t i = 0; i < (round == 0 ? options.entries - 1 : options.entries); ++i) list.record(tpm, all[next_file++]);
    RecordedRound recorded;
    recorded.nonce = nonce_of(static_cast<uint8_t>(round));
    recorded.progress = progress;
    const auto evidence = round_evidence(tpm, recorded.nonce, list, start);
    recorded.evidence_json = attest::to_json(evidence);
    const auto result = attest::appraise_round(tpm.ak(), recorded.nonce, progress, evidence, policy);
    if (result.verdict != attest::Verdict::trusted) {
      std::fprintf(stderr, "verifier_bench: recorded round %zu is not trusted: %s\n", round, result.reason.c_str());
      std::exit(1);
    }
    progress = result.progress;

    const fs::path dir = options.dir / ("round-" + std::to_string(round));
    fs::create_directories(dir);
    write_bytes(dir / "attest", evidence.quote.attest);
    write_bytes(dir / "signature", evidence.quote.signature);
    write_bytes(dir / "pcrs", tpm2_tools_pcr_file(evidence.quote));
    write_text(dir / "nonce", hex_text(recorded.nonce));
    write_text(dir / "start_pcr10", recorded.progress.pcr10.hex());
    write_text(dir / "quoted_pcr10", evidence.quote.pcr_values.back().hex());
    std::string ascii;
    for (const auto& entry : evidence.entries) ascii += ima::ascii_line(entry);  // each ends in \n
    write_text(dir / "ascii_runtime_measurements", ascii);
    rounds.push_back(std::move(recorded));
  }
  return rounds;
}

// One round as the verifier does it: parse the body, then appraise.
bool judge(const SoftwareTpm& tpm, const RecordedRound& round, const attest::RuntimePolicy& policy) {
  auto evidence = attest::parse_round_evidence(round.evidence_json);
  if (!evidence) return false;
  const auto result = attest::appraise_round(tpm.ak(), round.nonce, round.progress, *evidence, policy);
  return result.verdict == attest::Verdict::trusted && result.entries_checked > 0;
}

int run(const Options& options) {
  SoftwareTpm tpm;
  attest::RuntimePolicy policy;
  const auto rounds = record(options, tpm, policy);
  std::atomic<uint64_t> judged{0}, failed{0};
  std::atomic<bool> stop{false};
  const auto began = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (size_t t = 0; t < options.threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t i = t; !stop.load(std::memory_order_relaxed); i += options.threads) {
        if (!judge(tpm, rounds[i % rounds.size()], policy)) failed.fetch_add(1);
        judged.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  if (failed.load() != 0) {
    std::fprintf(stderr, "verifier_bench: %llu rounds failed on replay\n", static_cast<unsigned long long>(failed.load()));
    return 1;
  }
  std::printf("{\"rounds\": %llu, \"seconds\": %.3f, \"rounds_per_second\": %.1f, \"entries_per_round\": %zu, "
              "\"threads\": %zu}\n",
              static_cast<unsigned long long>(judged.load()), elapsed, static_cast<double>(judged.load()) / elapsed,
              options.entries, options.threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--dir") options.dir = value;
    else if (flag == "--rounds") options.rounds = std::stoul(value);
    else if (flag == "--entries") options.entries = std::stoul(value);
    else if (flag == "--threads") options.threads = std::stoul(value);
    else if (flag == "--seconds") options.seconds = std::stod(value);
    else {
      std::fprintf(stderr, "usage: %s --dir DIR [--rounds N] [--entries N] [--threads N] [--seconds S]\n", argv[0]);
      return 2;
    }
  }
  if (options.dir.empty() || options.rounds == 0 || options.entries < 2 || options.threads == 0) {
    std::fprintf(stderr, "verifier_bench: --dir is required; rounds, threads >= 1, entries >= 2\n");
    return 2;
  }
  return run(options);
}
