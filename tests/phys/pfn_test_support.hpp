#pragma once
// Test helpers for the PFN database: a physical memory over a byte vector,
// an owner that records its call-backs, and a fixture that ties them to a
// database.

#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mmkit::test {

/// A WritablePhysicalMemory whose frames live in a std::vector.
class vector_memory {
 public:
  explicit vector_memory(std::uint64_t frames) : bytes_(frames * page_size) {}
  std::uint64_t frame_count() const noexcept {
    return bytes_.size() / page_size;
  }
  const std::byte* read_frame(pfn f) const noexcept {
    return bytes_.data() + f.raw() * page_size;
  }
  std::byte* frame(pfn f) noexcept {
    return bytes_.data() + f.raw() * page_size;
  }

  /// Fills a frame with a non-zero pattern, as a page in use would be.
  void scribble(pfn f, std::uint8_t value) noexcept {
    std::memset(frame(f), value == 0 ? 0xA5 : value, page_size);
  }
  bool is_zero(pfn f) const noexcept {
    const std::byte* p = read_frame(f);
    for (std::uint64_t i = 0; i < page_size; ++i)
      if (p[i] != std::byte{0}) return false;
    return true;
  }

 private:
  std::vector<std::byte> bytes_;
};
static_assert(WritablePhysicalMemory<vector_memory>);

/// One call of StandbyOwner::repurpose.
struct repurpose_call {
  pfn frame;
  pte_link link;
  std::uint64_t original_pte = 0;
  friend bool operator==(const repurpose_call&,
                         const repurpose_call&) = default;
};

/// An owner that records every call-back in a caller's vector.
struct recording_owner {
  std::vector<repurpose_call>* calls = nullptr;
  void repurpose(pfn frame, pte_link link,
                 std::uint64_t original_pte) noexcept {
    calls->push_back({frame, link, original_pte});
  }
};
static_assert(StandbyOwner<recording_owner>);

/// Memory, entry storage, a call log and a database over them.
template <class Colouring = no_colouring>
struct pfn_fixture {
  using database = pfn_database<vector_memory, recording_owner, Colouring>;

  explicit pfn_fixture(std::uint32_t frames,
                       initial_contents contents = initial_contents::unknown)
      : memory(frames),
        entries(frames),
        db(memory, entries.data(), frames, contents, recording_owner{&calls}) {}

  vector_memory memory;
  std::vector<pfn_entry> entries;
  std::vector<repurpose_call> calls;
  database db;

  /// Every frame on `list` (of `colour`, in `zone`), head first: the
  /// linked frames, then, for the list the fresh frames are on, the fresh
  /// frames of that colour, lowest first.
  std::vector<std::uint32_t> list(page_state s, std::uint32_t colour = 0,
                                  unsigned zone = 0) const {
    std::vector<std::uint32_t> out;
    for (std::uint32_t i = db.debug_head(s, colour, zone);
         i != pfn_entry::no_frame; i = db.entry(pfn{i}).next())
      out.push_back(i);
    const auto fresh = db.debug_fresh(zone);
    if (fresh.state == s)
      for (std::uint32_t i = fresh.first; i < fresh.end; ++i)
        if (db.colouring().colour_of(pfn{i}) == colour) out.push_back(i);
    return out;
  }
};

}  // namespace mmkit::test
