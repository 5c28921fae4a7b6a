#pragma once
// A minimal io_uring for tests, on raw system calls (no liburing): one submission at a time,
// waited for. Enough to open, write, fallocate and close files the way an attacker would, without
// the open(2) family.
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace vigil::test {

class RawRing {
 public:
  static std::optional<RawRing> create(unsigned entries = 8) {
    io_uring_params params{};
    const int fd = static_cast<int>(::syscall(__NR_io_uring_setup, entries, &params));
    if (fd < 0) return std::nullopt;
    RawRing ring;
    ring.fd_ = fd;
    ring.ring_size_ = std::max(params.sq_off.array + params.sq_entries * sizeof(unsigned),
                               params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe));
    ring.ring_ = ::mmap(nullptr, ring.ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                        IORING_OFF_SQ_RING);  // IORING_FEAT_SINGLE_MMAP: one mapping for both rings
    ring.sqes_size_ = params.sq_entries * sizeof(io_uring_sqe);
    ring.sqes_ = static_cast<io_uring_sqe*>(
        ::mmap(nullptr, ring.sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES));
    if (ring.ring_ == MAP_FAILED || ring.sqes_ == MAP_FAILED) return std::nullopt;
    auto* base = static_cast<char*>(ring.ring_);
    ring.sq_tail_ = reinterpret_cast<unsigned*>(base + params.sq_off.tail);
    ring.sq_mask_ = *reinterpret_cast<unsigned*>(base + params.sq_off.ring_mask);
    ring.sq_array_ = reinterpret_cast<unsigned*>(base + params.sq_off.array);
    ring.cq_head_ = reinterpret_cast<unsigned*>(base + params.cq_off.head);
    ring.cq_tail_ = reinterpret_cast<unsigned*>(base + params.cq_off.tail);
    ring.cq_mask_ = *reinterpret_cast<unsigned*>(base + params.cq_off.ring_mask);
    ring.cqes_ = reinterpret_cast<io_uring_cqe*>(base + params.cq_off.cqes);
    return ring;
  }
  RawRing(RawRing&& other) noexcept { *this = std::move(other); }
  RawRing& operator=(RawRing&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(ring_, other.ring_);
    std::swap(ring_size_, other.ring_size_);
    std::swap(sqes_, other.sqes_);
    std::swap(sqes_size_, other.sqes_size_);
    sq_tail_ = other.sq_tail_;
    sq_mask_ = other.sq_mask_;
    sq_array_ = other.sq_array_;
    cq_head_ = other.cq_head_;
    cq_tail_ = other.cq_tail_;
    cq_mask_ = other.cq_mask_;
    cqes_ = other.cqes_;
    return *this;
  }
  ~RawRing() {
    if (sqes_ != nullptr && sqes_ != MAP_FAILED) ::munmap(sqes_, sqes_size_);
    if (ring_ != nullptr && ring_ != MAP_FAILED) ::munmap(ring_, ring_size_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Submits `sqe` and waits for its completion: the CQE's res (a descriptor, a count or -errno).
  int run(const io_uring_sqe& sqe) {
    const unsigned tail = std::atomic_ref<unsigned>(*sq_tail_).load(std::memory_order_acquire);
    const unsigned index = tail & sq_mask_;
    sqes_[index] = sqe;
    sq_array_[index] = index;
    std::atomic_ref<unsigned>(*sq_tail_).store(tail + 1, std::memory_order_release);
    if (::syscall(__NR_io_uring_enter, fd_, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) < 0) return -errno;
    const unsigned head = std::atomic_ref<unsigned>(*cq_head_).load(std::memory_order_acquire);
    if (head == std::atomic_ref<unsigned>(*cq_tail_).load(std::memory_order_acquire)) return -EAGAIN;
    const int res = cqes_[head & cq_mask_].res;
    std::atomic_ref<unsigned>(*cq_head_).store(head + 1, std::memory_order_release);
    return res;
  }

  // A table of `slots` empty direct descriptors (IORING_REGISTER_FILES with -1 entries).
  int register_sparse_files(unsigned slots) {
    int fds[16];
    for (int& fd : fds) fd = -1;
    return static_cast<int>(::syscall(__NR_io_uring_register, fd_, IORING_REGISTER_FILES, fds, std::min(slots, 16u)));
  }

  static io_uring_sqe openat(const char* path, int flags, unsigned direct_slot_plus_one = 0) {
    io_uring_sqe sqe{};
    sqe.opcode = IORING_OP_OPENAT;
    sqe.fd = AT_FDCWD;
    sqe.addr = reinterpret_cast<__u64>(path);
    sqe.open_flags = static_cast<__u32>(flags);
    sqe.file_index = direct_slot_plus_one;
    return sqe;
  }
  static io_uring_sqe write(int fd, const void* data, unsigned length, __u64 offset, bool fixed_file = false) {
    io_uring_sqe sqe{};
    sqe.opcode = IORING_OP_WRITE;
    sqe.fd = fd;
    sqe.addr = reinterpret_cast<__u64>(data);
    sqe.len = length;
    sqe.off = offset;
    if (fixed_file) sqe.flags = IOSQE_FIXED_FILE;
    return sqe;
  }
  static io_uring_sqe close_direct(unsigned slot) {
    io_uring_sqe sqe{};
    sqe.opcode = IORING_OP_CLOSE;
    sqe.file_index = slot + 1;
    return sqe;
  }
  static io_uring_sqe close(int fd) {
    io_uring_sqe sqe{};
    sqe.opcode = IORING_OP_CLOSE;
    sqe.fd = fd;
    return sqe;
  }

 private:
  RawRing() = default;
  int fd_ = -1;
  void* ring_ = nullptr;
  std::size_t ring_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  std::size_t sqes_size_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace vigil::test
