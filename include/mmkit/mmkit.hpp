#pragma once
// mmkit in one include: every layer, and the hosted policies when a host is
// available.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/core.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/emu/changes.hpp>
#include <mmkit/emu/dirty_pages.hpp>
#include <mmkit/emu/fault_callbacks.hpp>
#include <mmkit/emu/host_page.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/page_table.hpp>
#include <mmkit/paging/tlb.hpp>
#include <mmkit/paging/translator.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/buffer_memory.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/physical_memory.hpp>
#include <mmkit/phys/simple_frame_source.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_dump.hpp>
#include <mmkit/system/system.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_dump.hpp>
#include <mmkit/vad/vad_tree.hpp>

#if MMKIT_HOSTED
#include <mmkit/emu/saved_system.hpp>
#include <mmkit/emu/snapshot.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/phys/image_memory.hpp>
#include <mmkit/region/pool_vad_allocator.hpp>
#include <mmkit/section/posix_file_store.hpp>
#include <mmkit/system/hosted_system.hpp>
#endif
