#pragma once
// page_listener: who hears that a page of an address space changed, for a
// snapshot's journal (emu/snapshot.hpp). Two places tell it:
//
//   translator   the walker set a leaf's D bit: the page's first write
//                since its D was last cleared. Only the slow path looks
//                for a listener: a write the TLB serves found D set
//                already, so the fast path pays nothing.
//   space_observer  a leaf PTE changed (region/write_watch.hpp): commit,
//                decommit, protect, a fault, a trim, a release.
//
//   address_space   reservations or views were made or went: the VADs
//                of a range changed.
//   region/awe.hpp  the space frees a user physical page: the listener may
//                keep the frame, so that a restore gets the same frame
//                number back (the process's page array names it).
//
// Between them they name every page whose contents, protection or state
// may differ from what they were when D bits were last cleared, and every
// range whose VADs may differ.

#include <mmkit/core/address.hpp>

namespace mmkit {

class page_listener {
 public:
  /// Page `p` was (or is about to be) written, or its PTE changed.
  virtual void page_touched(vpn p) noexcept = 0;
  /// Reservations or views in pages `r` were made, released, split or
  /// unmapped (the address space tells this after its NT calls).
  virtual void range_touched(vpn_range r) noexcept = 0;
  /// The space frees user physical page `f` (region/awe.hpp). Returns:
  /// true when the listener keeps the frame: it stays active and charged
  /// to the system, and the listener gives it back or frees it later.
  virtual bool keep_freed_frame(pfn f) noexcept {
    (void)f;
    return false;
  }

 protected:
  ~page_listener() = default;
};

}  // namespace mmkit
