#pragma once
// The backing names `!vad` prints for mapped views: a page-file section's
// "Pagefile section, shared commit 0x<pages>" and a file section's file
// name, as a VadNamer for vad/vad_dump.hpp's dump_vads.

#include <mmkit/section/section.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_dump.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

/// Names each mapped VAD by its section's backing (see the header
/// comment); private VADs get no name. The returned text lives in the
/// namer until its next call.
class section_vad_names {
 public:
  const char* operator()(const vad& v) noexcept {
    if (v.private_memory()) return nullptr;
    const section_object* s = as_view(v).section;
    if (s == nullptr) return nullptr;
    if (s->file_backed()) {
      const char* n = s->file()->store().name();
      return n != nullptr ? n : "(unnamed file)";
    }
    constexpr const char prefix[] = "Pagefile section, shared commit 0x";
    std::size_t at = 0;
    for (const char ch : prefix)
      if (ch != '\0') buffer_[at++] = ch;
    at += detail::format_hex(s->pages().committed, buffer_ + at);
    buffer_[at] = '\0';
    return buffer_;
  }

 private:
  char buffer_[64] = {};
};
static_assert(VadNamer<section_vad_names, vad>);

}  // namespace mmkit
