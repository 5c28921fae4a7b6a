#pragma once
// Commits one batch of queued rows in one transaction, through insert statements prepared
// once for the connection's lifetime.
#include <optional>
#include <vector>

#include "common/error.h"
#include "store/sqlite_handle.h"
#include "store/write_queue.h"

namespace vigil::store {

class BatchWriter {
 public:
  // The statements belong to db: commit() must be given the same connection.
  static Result<BatchWriter> create(Database& db);

  // All rows or none: a failure rolls the transaction back.
  Result<void> commit(Database& db, const std::vector<WriteItem>& batch);

 private:
  struct Inserts {
    Statement alert, event, measurement, decision, activity, rule_hits, container_name;
  };
  explicit BatchWriter(Inserts inserts) : inserts_(std::move(inserts)) {}

  Result<void> write(const AlertRecord& alert);
  Result<void> write(const EventRecord& event);
  Result<void> write(const MeasurementRecord& measurement);
  Result<void> write(const DecisionRecord& decision);
  Result<void> write(const ActivityCount& activity);
  Result<void> write(const RuleHits& hits);
  Result<void> write(const ContainerName& name);

  Inserts inserts_;
};

}  // namespace vigil::store
