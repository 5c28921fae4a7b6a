#pragma once
// Reads a binary_runtime_measurements file incrementally: it remembers where each record it has
// seen starts, so a round reads only the bytes from the verifier's list_start on, not the whole
// list again. A record still being written (a partial tail) is left for the next read. A file
// that shrank, or another file under the same name (a new list: a reboot, or an agent that set
// an unreplayable list aside), starts the index again. An agent that restarts and continues its
// list only appends, so the index stays valid across the restart.
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "ima/measurement_list.h"

namespace vigil::attest {

class IncrementalListReader {
 public:
  explicit IncrementalListReader(std::string path) : path_(std::move(path)) {}

  // Entries [start, end of the complete records). start beyond the list is an error.
  Result<std::vector<ima::MeasurementEntry>> read_from(uint64_t start);

  // Records whose start offsets are known (test and diagnostics).
  uint64_t indexed_records() const { return offsets_.size(); }
  // Bytes read from the file over this reader's life (tests check a round reads only new ones).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Reads [from, EOF) into buffer.
  Result<std::vector<uint8_t>> read_tail(int fd, uint64_t from);

  std::string path_;
  std::vector<uint64_t> offsets_;  // offsets_[i]: where record i starts
  uint64_t indexed_end_ = 0;       // where the last indexed record ends
  uint64_t device_ = 0, inode_ = 0;  // the file indexed
  uint64_t bytes_read_ = 0;
};

// Splits complete binary_runtime_measurements records: the length of the record at the start
// of `bytes`, 0 if it is not complete yet, or an error if it cannot be a record.
Result<size_t> binary_record_length(std::span<const uint8_t> bytes);

}  // namespace vigil::attest
