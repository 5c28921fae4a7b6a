#pragma once
// Read-only connections for the store's queries. A connection serves one query at a time;
// concurrent queries each take their own (opened on demand), so readers never wait for each
// other or for the writer (WAL: a reader sees the last commit before its query began).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/sqlite_handle.h"

namespace vigil::store {

class ReaderPool {
 public:
  explicit ReaderPool(std::string path) : path_(std::move(path)) {}

  // A connection, back in the pool when the lease ends.
  class Lease {
   public:
    Lease(ReaderPool& pool, std::unique_ptr<Database> db) : pool_(&pool), db_(std::move(db)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (db_) pool_->give_back(std::move(db_));
    }
    Database& operator*() const { return *db_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Database> db_;
  };

  Result<Lease> take();

 private:
  void give_back(std::unique_ptr<Database> db);

  const std::string path_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Database>> idle_;
};

}  // namespace vigil::store
