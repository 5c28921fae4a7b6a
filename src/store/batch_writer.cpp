#include "store/batch_writer.h"

#include <initializer_list>
#include <variant>

namespace vigil::store {
namespace {

// A bound value: bind_all takes them in parameter order.
using Value = std::variant<std::int64_t, std::string_view>;

Result<void> bind_all(Statement& stmt, std::initializer_list<Value> values) {
  int index = 1;
  for (const Value& value : values) {
    auto bound = std::visit([&](auto v) { return stmt.bind(index, v); }, value);
    if (!bound) return bound;
    ++index;
  }
  return {};
}

Result<void> insert(Statement& stmt, std::initializer_list<Value> values) {
  if (auto bound = bind_all(stmt, values); !bound) {
    stmt.reset();
    return bound;
  }
  return stmt.run();
}

}  // namespace

Result<BatchWriter> BatchWriter::create(Database& db) {
  auto prepare = [&db](const char* sql) { return db.prepare(sql, true); };
  auto alert = prepare(
      "INSERT INTO alerts(time_ns, rule, priority, output, container_id, container_name, pid, action, json) "
      "VALUES(?,?,?,?,?,?,?,?,?)");
  auto event = prepare(
      "INSERT INTO events(time_ns, type, container_id, pid, process, summary, json) VALUES(?,?,?,?,?,?,?)");
  auto measurement = prepare(
      "INSERT INTO measurements(list_index, time_ns, pcr, template_name, template_hash, file_hash, path, verdict) "
      "VALUES(?,?,?,?,?,?,?,?)");
  auto decision = prepare("INSERT INTO decisions(time_ns, verdict, path, pid, reason, json) VALUES(?,?,?,?,?,?)");
  auto activity = prepare(
      "INSERT INTO activity(bucket_start_s, container_id, type, count) VALUES(?,?,?,?) "
      "ON CONFLICT(container_id, bucket_start_s, type) DO UPDATE SET count = count + excluded.count");
  auto rule_hits = prepare(
      "INSERT INTO rule_hits(rule, hits, last_hit_ns) VALUES(?,?,?) "
      "ON CONFLICT(rule) DO UPDATE SET hits = excluded.hits, last_hit_ns = excluded.last_hit_ns");
  auto container_name = prepare(
      "INSERT INTO container_names(container_id, name) VALUES(?,?) "
      "ON CONFLICT(container_id) DO UPDATE SET name = excluded.name");
  for (auto* stmt : {&alert, &event, &measurement, &decision, &activity, &rule_hits, &container_name}) {
    if (!*stmt) return std::unexpected(stmt->error());
  }
  return BatchWriter(Inserts{std::move(*alert), std::move(*event), std::move(*measurement), std::move(*decision),
                                 std::move(*activity), std::move(*rule_hits), std::move(*container_name)});
}

Result<void> BatchWriter::commit(Database& db, const std::vector<WriteItem>& batch) {
  if (auto begun = db.exec("BEGIN IMMEDIATE"); !begun) return begun;
  for (const WriteItem& item : batch) {
    auto written = std::visit([this](const auto& record) { return write(record); }, item);
    if (!written) {
      (void)db.exec("ROLLBACK");
      return written;
    }
  }
  if (auto committed = db.exec("COMMIT"); !committed) {
    (void)db.exec("ROLLBACK");
    return committed;
  }
  return {};
}

Result<void> BatchWriter::write(const AlertRecord& a) {
  return insert(inserts_.alert, {a.time_ns, a.rule, std::int64_t{a.priority}, a.output, a.container_id,
                                 a.container_name, a.pid, a.action, a.json});
}

Result<void> BatchWriter::write(const EventRecord& e) {
  return insert(inserts_.event, {e.time_ns, e.type, e.container_id, e.pid, e.process, e.summary, e.json});
}

Result<void> BatchWriter::write(const MeasurementRecord& m) {
  return insert(inserts_.measurement, {m.index, m.time_ns, std::int64_t{m.pcr}, m.template_name, m.template_hash,
                                       m.file_hash, m.path, m.verdict});
}

Result<void> BatchWriter::write(const DecisionRecord& d) {
  return insert(inserts_.decision, {d.time_ns, d.verdict, d.path, d.pid, d.reason, d.json});
}

Result<void> BatchWriter::write(const ActivityCount& a) {
  return insert(inserts_.activity, {a.bucket_start_s, a.container_id, a.type, a.count});
}

Result<void> BatchWriter::write(const RuleHits& h) {
  return insert(inserts_.rule_hits, {h.rule, h.hits, h.last_hit_ns});
}

Result<void> BatchWriter::write(const ContainerName& n) {
  return insert(inserts_.container_name, {n.container_id, n.name});
}

}  // namespace vigil::store
