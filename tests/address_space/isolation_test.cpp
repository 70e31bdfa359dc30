// Isolation between address spaces on one system: a frame is never owned
// twice, and no entry is ever truncated into another frame. An x86_32 PTE
// names a 20-bit frame number, so on a machine with more than 4 GiB an
// x86_32 address space must only get frames below 4 GiB; were it given frame
// 0x100000 + k, its PTE would name frame k, which belongs to someone else.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

using namespace mmkit;

namespace {

/// What each touched page holds: the space and page that wrote it.
struct tag {
  std::uint64_t space = 0;
  std::uint64_t page = 0;
  friend bool operator==(const tag&, const tag&) = default;
};

/// One address space of any arch behind one interface, with a committed
/// region that the test fills page by page.
struct tenant {
  virtual ~tenant() = default;
  /// Commits the next page and touches it. Returns: the commit's status
  /// (commitment_limit once the machine cannot back another page); a
  /// committed page's first touch must always succeed.
  virtual status commit_and_touch_next() = 0;
  /// Whether every touched page still holds its own tag, and its frame.
  virtual bool read_back(std::vector<std::uint64_t>& frames) = 0;
  virtual bool invariants() = 0;
  virtual std::uint64_t frame_bound() const = 0;
  /// Frames the space holds ahead of its faults (with threads).
  virtual std::uint64_t cached() const = 0;
  std::uint64_t touched = 0;
};

template <class Arch, class Lock = no_lock>
struct tenant_of final : tenant {
  using space = address_space<Arch, hosted_config<Lock>>;
  static constexpr std::uint64_t pages = 4096;

  tenant_of(hosted_system<Lock>& sys, std::uint64_t id) : as(sys), id(id) {
    REQUIRE(as.creation_status() == status::success);
    std::uint64_t size = pages << page_shift;
    REQUIRE(as.allocate(base, size, mem::reserve, page::readwrite) ==
            status::success);
  }
  status commit_and_touch_next() override {
    vaddr at = base + (touched << page_shift);
    std::uint64_t size = page_size;
    const status c = as.allocate(at, size, mem::commit, page::readwrite);
    if (c != status::success) return c;
    const tag t{id, touched};
    std::size_t done = 0;
    // Commit is a promise: the first touch never runs out of memory.
    REQUIRE(as.write(at, &t, sizeof t, done) == status::success);
    ++touched;
    return status::success;
  }
  bool read_back(std::vector<std::uint64_t>& frames) override {
    for (std::uint64_t p = 0; p < touched; ++p) {
      const vaddr va = base + (p << page_shift);
      tag t{};
      std::size_t done = 0;
      if (as.read(va, &t, sizeof t, done) != status::success) return false;
      if (!(t == tag{id, p})) return false;
      const auto tr = as.translate(va);
      if (!tr.ok()) return false;
      frames.push_back(tr.address.frame().raw());
    }
    return true;
  }
  bool invariants() override { return as.check_invariants(); }
  std::uint64_t frame_bound() const override {
    return arch::frame_phys_limit<Arch>() >> page_shift;
  }
  std::uint64_t cached() const override { return as.cached_frames(); }

  space as;
  std::uint64_t id;
  vaddr base{0};
};

}  // namespace

TEST_SUITE_BEGIN("system");

TEST_CASE_TEMPLATE(
    "isolation: x86_32 and 64-bit spaces filling an 8 GiB machine never "
    "share a frame, and no committed page fails its first touch",
    Lock, no_lock, mutex_lock) {
  // 8 GiB of RAM. Most frames are marked bad so that the fill touches few
  // host pages; what stays usable are frames just above 0, just above
  // 4 GiB (their low 20 bits alias the first group) and just below 8 GiB.
  constexpr std::uint64_t four_gib = std::uint64_t{1} << 20;  // in frames
  hosted_system<Lock> sys{std::uint64_t{8} << 30};
  auto& db = sys.pfns();
  // With threads, a low threshold of one frame would let the 64-bit
  // spaces' frame caches fill while the machine fills up.
  db.set_available_thresholds(1, 2);
  REQUIRE(db.frame_count() == 2 * four_gib);
  const auto usable = [&](std::uint64_t f) {
    return (f >= 1 && f < 1025) || (f >= four_gib + 1 && f < four_gib + 1025) ||
           f >= 2 * four_gib - 1024;
  };
  for (std::uint64_t f = 0; f < db.frame_count(); ++f)
    if (!usable(f)) db.mark_bad(pfn{f});
  REQUIRE(db.available() == 3 * 1024);

  std::vector<std::unique_ptr<tenant>> spaces;
  spaces.push_back(std::make_unique<tenant_of<arch::x86_32, Lock>>(sys, 0));
  spaces.push_back(std::make_unique<tenant_of<arch::x86_64, Lock>>(sys, 1));
  spaces.push_back(std::make_unique<tenant_of<arch::x86_32, Lock>>(sys, 2));
  spaces.push_back(std::make_unique<tenant_of<arch::x86_pae, Lock>>(sys, 3));
  spaces.push_back(std::make_unique<tenant_of<arch::x86_la57, Lock>>(sys, 4));
  spaces.push_back(std::make_unique<tenant_of<arch::x86_32, Lock>>(sys, 5));

  // Round robin until no space can commit another page: memory is full.
  std::vector<bool> full(spaces.size(), false);
  std::uint64_t most_cached = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = 0; i < spaces.size(); ++i) {
      if (full[i]) continue;
      const status s = spaces[i]->commit_and_touch_next();
      most_cached = std::max(most_cached, spaces[i]->cached());
      if (s == status::success) {
        progress = true;
      } else {
        CHECK(s == status::commitment_limit);
        full[i] = true;
      }
    }
  }
  // Every space got pages, the 32-bit ones from low memory only, and what
  // is left is less than a page and the tables to map it.
  for (auto& s : spaces) CHECK(s->touched > 0);
  // No frame cache fills while a space is bound to the low zone (here,
  // from the start): idle cached frames could push the 64-bit spaces'
  // pages onto the low frames the 32-bit ones are owed.
  CHECK(most_cached == 0);
  CHECK(db.available() < 8);

  std::set<std::uint64_t> owned;
  std::uint64_t pages = 0;
  std::uint64_t cached = 0;
  for (auto& s : spaces) {
    cached += s->cached();
    std::vector<std::uint64_t> frames;
    CHECK(s->read_back(frames));
    for (std::uint64_t f : frames) {
      CHECK(usable(f));
      CHECK(f < s->frame_bound());
      CHECK(owned.insert(f).second);  // never owned twice
    }
    pages += frames.size();
    CHECK(s->invariants());
  }
  // Data pages, page tables and (with threads) the frames the spaces'
  // caches hold account for every frame handed out.
  CHECK(pages + db.page_table_count() + db.available() + cached == 3 * 1024);
  CHECK(db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "isolation: an arch's page tables lie where it can name them", Arch,
    arch::x86_32, arch::x86_pae, arch::x86_64) {
  // Only frames above 4 GiB are free: the 32-bit-CR3 archs cannot even get
  // a root table, and say so with a status; x64 takes them.
  constexpr std::uint64_t four_gib = std::uint64_t{1} << 20;
  hosted_system<> sys{(four_gib + 64) << page_shift};
  for (std::uint64_t f = 0; f < four_gib; ++f) sys.pfns().mark_bad(pfn{f});
  address_space<Arch, hosted_config<>> as{sys};
  if (arch::root_phys_limit<Arch>() <= (four_gib << page_shift)) {
    CHECK(as.creation_status() == status::no_memory);
  } else {
    REQUIRE(as.creation_status() == status::success);
    CHECK(as.root().raw() >= (four_gib << page_shift));
    CHECK(as.check_invariants());
  }
}

TEST_CASE("isolation: frame limits derived from each arch's entry format") {
  CHECK(arch::frame_phys_limit<arch::x86_32>() == std::uint64_t{1} << 32);
  CHECK(arch::root_phys_limit<arch::x86_32>() == std::uint64_t{1} << 32);
  CHECK(arch::frame_phys_limit<arch::x86_pae>() == std::uint64_t{1} << 52);
  CHECK(arch::root_phys_limit<arch::x86_pae>() == std::uint64_t{1} << 32);
  CHECK(arch::frame_phys_limit<arch::x86_64>() == std::uint64_t{1} << 52);
  CHECK(arch::root_phys_limit<arch::x86_la57>() == std::uint64_t{1} << 52);
}

TEST_SUITE_END();
