#include "store/reader_pool.h"

namespace vigil::store {
namespace {

// Idle connections kept beyond this are closed: each holds its own page cache.
constexpr std::size_t kMaxIdle = 4;

}  // namespace

Result<ReaderPool::Lease> ReaderPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(db));
    }
  }
  auto db = Database::open(path_, SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(db.error());
  return Lease(*this, std::make_unique<Database>(std::move(*db)));
}

void ReaderPool::give_back(std::unique_ptr<Database> db) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(db));
}

}  // namespace vigil::store
