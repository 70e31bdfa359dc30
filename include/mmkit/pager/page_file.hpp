#pragma once
// Page files: where the pager writes modified private and page-file-backed
// pages, as NT's paging files. Each is a BackingStore of 4 KiB slots and a
// bitmap of the slots in use (caller-given words: nothing is allocated).
// A system has up to 16 (a page-file PTE names the file in 4 bits); a
// slot is named by (file, offset), never (0, 0): that PTE would read as
// demand-zero, so slot 0 of page file 0 is never handed out, as NT keeps
// the first page of its first paging file.
//
//   page_file        one file: allocate / free a slot, read / write a page
//   page_file_set    the system's files: a slot from the first file with
//                    room, and the totals the commit limit counts
//
// Space is taken when a page is written out and given back when the page
// is decommitted, released or read back for good; a full set answers
// status::insufficient_resources and the page stays in memory.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/section/backing_store.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

/// A slot of a page file set: which file, which 4 KiB page of it.
struct page_slot {
  std::uint8_t file = 0;
  std::uint64_t offset = 0;
  friend constexpr bool operator==(page_slot, page_slot) = default;
};

class page_file {
 public:
  page_file() noexcept = default;
  /// Requires: `bitmap` holds (slots + 63) / 64 words that outlive the
  /// file (their contents need no initialisation); the store holds at
  /// least slots * 4 KiB bytes or can grow to it (set_size is called).
  page_file(store_ref store, std::uint64_t* bitmap,
            std::uint64_t slots) noexcept
      : store_(store), bits_(bitmap), slots_(slots) {
    for (std::uint64_t w = 0; w < words(); ++w) bits_[w] = 0;
  }
  page_file(const page_file&) = delete;
  page_file& operator=(const page_file&) = delete;

  std::uint64_t slots() const noexcept { return slots_; }
  std::uint64_t used() const noexcept { return used_; }
  const store_ref& store() const noexcept { return store_; }

  /// Effects: the slot `offset` is taken (for the caller that must keep a
  /// slot out of use, such as slot 0 of the first file).
  void reserve(std::uint64_t offset) noexcept {
    MMKIT_ASSERT(offset < slots_ && !in_use(offset));
    bits_[offset / 64] |= bit(offset);
    ++used_;
  }
  /// Effects: a free slot is taken, searching on from the last one taken
  /// (NT's paging files are filled the same way, in clusters).
  /// Returns: its offset, or insufficient_resources when the file is full.
  /// Complexity: O(words) in the worst case, O(1) amortised while free
  /// slots lie ahead.
  result<std::uint64_t> allocate() noexcept {
    if (used_ == slots_) return status::insufficient_resources;
    for (std::uint64_t n = 0; n <= words(); ++n) {
      const std::uint64_t w = (hint_ / 64 + n) % words();
      std::uint64_t free = ~bits_[w];
      if (w == words() - 1 && slots_ % 64 != 0)
        free &= (std::uint64_t{1} << (slots_ % 64)) - 1;
      if (free == 0) continue;
      const std::uint64_t offset =
          w * 64 + static_cast<unsigned>(__builtin_ctzll(free));
      bits_[w] |= bit(offset);
      ++used_;
      hint_ = offset;
      return offset;
    }
    return status::insufficient_resources;
  }
  /// Requires: `offset` is in use. Effects: it is free again.
  void free(std::uint64_t offset) noexcept {
    MMKIT_ASSERT(offset < slots_ && in_use(offset));
    bits_[offset / 64] &= ~bit(offset);
    --used_;
  }
  bool in_use(std::uint64_t offset) const noexcept {
    return (bits_[offset / 64] & bit(offset)) != 0;
  }

  /// Writes one page to slot `offset` (growing the store when it is
  /// shorter). Returns: the store's status.
  status write(std::uint64_t offset, const std::byte* page) noexcept {
    const std::uint64_t at = offset << page_shift;
    if (store_.size() < at + page_size) {
      if (const status s = store_.set_size(at + page_size);
          s != status::success)
        return s;
    }
    return store_.write(at, page, page_size);
  }
  /// Reads slot `offset` into `page`. Returns: the store's status.
  status read(std::uint64_t offset, std::byte* page) const noexcept {
    return store_.read(offset << page_shift, page, page_size);
  }

 private:
  std::uint64_t words() const noexcept { return (slots_ + 63) / 64; }
  static constexpr std::uint64_t bit(std::uint64_t offset) noexcept {
    return std::uint64_t{1} << (offset % 64);
  }

  store_ref store_;
  std::uint64_t* bits_ = nullptr;
  std::uint64_t slots_ = 0;
  std::uint64_t used_ = 0;
  std::uint64_t hint_ = 0;
};

/// The page files of a system (up to 16).
class page_file_set {
 public:
  static constexpr unsigned max_files = 16;

  /// Requires: `f` outlives the set. Effects: a page file is added (the
  /// first keeps its slot 0 out of use). Returns: its number, or
  /// insufficient_resources when 16 are there already.
  result<unsigned> add(page_file& f) noexcept {
    if (count_ == max_files) return status::insufficient_resources;
    if (count_ == 0 && f.slots() != 0 && !f.in_use(0)) f.reserve(0);
    files_[count_] = &f;
    return count_++;
  }
  unsigned count() const noexcept { return count_; }
  page_file& file(unsigned n) noexcept { return *files_[n]; }

  /// Slots that hold or can hold pages (the commit limit counts them).
  std::uint64_t slots() const noexcept {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < count_; ++i)
      n += files_[i]->slots() - (i == 0 && files_[0]->slots() != 0);
    return n;
  }
  std::uint64_t used() const noexcept {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < count_; ++i)
      n += files_[i]->used() - (i == 0 && files_[0]->slots() != 0);
    return n;
  }

  /// A free slot of the first file with room, or insufficient_resources.
  result<page_slot> allocate() noexcept {
    for (unsigned i = 0; i < count_; ++i) {
      auto s = files_[i]->allocate();
      if (s) return page_slot{static_cast<std::uint8_t>(i), *s};
    }
    return status::insufficient_resources;
  }
  void free(page_slot s) noexcept { files_[s.file]->free(s.offset); }
  status write(page_slot s, const std::byte* page) noexcept {
    return files_[s.file]->write(s.offset, page);
  }
  status read(page_slot s, std::byte* page) const noexcept {
    return files_[s.file]->read(s.offset, page);
  }

 private:
  page_file* files_[max_files] = {};
  unsigned count_ = 0;
};

}  // namespace mmkit
