#pragma once
// section_table: what a system keeps for its sections: the prototype PTE
// pool, the allocator section objects come from, and the namespace of named
// sections (create, open by name; a name goes with its section).
//
// The namespace is a list: a lookup costs O(named sections), which the
// handful of named sections a Windows process opens keeps small.

#include <mmkit/core/assert.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/section/prototype_pool.hpp>
#include <mmkit/section/section.hpp>

#include <cstdint>
#include <cstring>
#include <utility>

namespace mmkit {

template <class Alloc>
class section_table {
 public:
  section_table() noexcept = default;
  /// Requires: `prototypes` points to `count` words that outlive the table
  /// (count < 2^32).
  section_table(std::uint64_t* prototypes, std::uint64_t count,
                Alloc objects) noexcept
      : pool(prototypes, count), objects(std::move(objects)) {}

  prototype_pool pool;
  Alloc objects;
  /// Section objects alive now.
  std::uint64_t live = 0;

  /// The named section called `name`, or null.
  section_object* find(const char* name) const noexcept {
    for (section_object* s = named_; s != nullptr; s = s->next_named_)
      if (std::strcmp(s->name_, name) == 0) return s;
    return nullptr;
  }
  /// Requires: `s` has a name no other section has.
  void add_name(section_object& s) noexcept {
    s.prev_named_ = nullptr;
    s.next_named_ = named_;
    if (named_ != nullptr) named_->prev_named_ = &s;
    named_ = &s;
  }
  void remove_name(section_object& s) noexcept {
    if (s.name_[0] == '\0') return;
    if (s.prev_named_ != nullptr)
      s.prev_named_->next_named_ = s.next_named_;
    else
      named_ = s.next_named_;
    if (s.next_named_ != nullptr) s.next_named_->prev_named_ = s.prev_named_;
    s.next_named_ = s.prev_named_ = nullptr;
  }

  /// Requires: `s` holds a run and is in no list. Complexity: O(1).
  void add_segment(segment& s) noexcept {
    s.prev_segment = nullptr;
    s.next_segment = segments_;
    if (segments_ != nullptr) segments_->prev_segment = &s;
    segments_ = &s;
  }
  void remove_segment(segment& s) noexcept {
    if (s.prev_segment != nullptr)
      s.prev_segment->next_segment = s.next_segment;
    else
      segments_ = s.next_segment;
    if (s.next_segment != nullptr)
      s.next_segment->prev_segment = s.prev_segment;
    s.next_segment = s.prev_segment = nullptr;
  }
  /// The segment holding prototype `index`. Complexity: O(segments), the
  /// pager's path for a section page (NT's control areas).
  segment* segment_of(std::uint64_t index) const noexcept {
    for (segment* s = segments_; s != nullptr; s = s->next_segment)
      if (s->holds(index)) return s;
    return nullptr;
  }
  segment* first_segment() const noexcept { return segments_; }

 private:
  section_object* named_ = nullptr;
  segment* segments_ = nullptr;
};

}  // namespace mmkit
