// Randomized allocate / release / zero / repurpose / write / reclaim /
// mark-bad sequences, compared step by step against a reference model made
// of plain vectors (one per list, head first) that is obviously right.

#include "pfn_test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace mmkit;
using mmkit::test::pfn_fixture;
using mmkit::test::repurpose_call;

namespace {

struct model_frame {
  page_state state = page_state::free;
  std::uint32_t colour = 0;
  std::uint32_t share = 0;
  std::uint32_t ref = 0;
  bool modified = false;
  bool bad_pending = false;
  bool table = false;
  bool writing = false;
  std::uint32_t extra = 0;  // add_reference() calls not yet undone
  release_to pending = release_to::free_list;
  pte_link link{};
  std::uint64_t original = 0;
};

template <class Colouring>
class pfn_model {
 public:
  static constexpr std::uint32_t colours = Colouring::colour_count;
  using list_t = std::vector<std::uint32_t>;

  explicit pfn_model(std::uint32_t n)
      : f_(n), zeroed_(colours), free_(colours) {
    for (std::uint32_t i = 0; i < n; ++i) {
      f_[i].colour = Colouring{}.colour_of(pfn{i});
      free_[f_[i].colour].push_back(i);
    }
  }

  std::vector<model_frame> f_;
  std::vector<list_t> zeroed_, free_;
  list_t standby_, modified_, no_write_, bad_;
  std::uint32_t zero_colour_ = 0;
  std::vector<repurpose_call> calls_;

  list_t& list(page_state s, std::uint32_t c) {
    switch (s) {
      case page_state::zeroed: return zeroed_[c];
      case page_state::free: return free_[c];
      case page_state::standby: return standby_;
      case page_state::modified: return modified_;
      case page_state::modified_no_write: return no_write_;
      default: return bad_;
    }
  }
  void remove(std::uint32_t i) {
    list_t& l = list(f_[i].state, f_[i].colour);
    auto it = std::find(l.begin(), l.end(), i);
    REQUIRE(it != l.end());
    l.erase(it);
  }
  void activate(std::uint32_t i) {
    model_frame& m = f_[i];
    const std::uint32_t c = m.colour;
    m = model_frame{};
    m.colour = c;
    m.state = page_state::active;
    m.share = 1;
    m.ref = 1;
  }
  std::uint64_t available() const {
    std::uint64_t n = standby_.size();
    for (std::uint32_t c = 0; c < colours; ++c)
      n += zeroed_[c].size() + free_[c].size();
    return n;
  }

  // Returns the frame, or no_frame for no_memory; sets `zero` when the
  // database must zero it.
  std::uint32_t allocate(page_need need, std::uint32_t hint) {
    const std::uint32_t c = hint % colours;
    std::uint32_t i = pfn_entry::no_frame;
    bool any_listed = false;
    for (std::uint32_t k = 0; k < colours; ++k)
      any_listed = any_listed || !zeroed_[k].empty() || !free_[k].empty();
    if (any_listed) {
      auto& first = need == page_need::zeroed ? zeroed_ : free_;
      auto& second = need == page_need::zeroed ? free_ : zeroed_;
      for (std::uint32_t k = 0; k < colours && i == pfn_entry::no_frame; ++k) {
        const std::uint32_t col = (c + k) % colours;
        if (!first[col].empty()) {
          i = first[col].front();
          first[col].erase(first[col].begin());
        } else if (!second[col].empty()) {
          i = second[col].front();
          second[col].erase(second[col].begin());
        }
      }
    } else if (!standby_.empty()) {
      i = standby_.front();
      standby_.erase(standby_.begin());
      calls_.push_back({pfn{i}, f_[i].link, f_[i].original});
    } else {
      return pfn_entry::no_frame;
    }
    activate(i);
    return i;
  }

  void to_bad(std::uint32_t i) {
    model_frame& m = f_[i];
    m.state = page_state::bad;
    m.bad_pending = false;
    m.modified = false;
    m.share = 0;
    m.ref = 0;
    bad_.push_back(i);
  }
  page_state place(std::uint32_t i, release_to to) {
    model_frame& m = f_[i];
    if (m.bad_pending) {
      to_bad(i);
      return page_state::bad;
    }
    if (to == release_to::free_list) {
      m.state = page_state::free;
      m.modified = false;
      free_[m.colour].insert(free_[m.colour].begin(), i);
    } else if (!m.modified) {
      m.state = page_state::standby;
      standby_.push_back(i);
    } else if (to == release_to::backing_store) {
      m.state = page_state::modified;
      modified_.push_back(i);
    } else {
      m.state = page_state::modified_no_write;
      no_write_.push_back(i);
    }
    return m.state;
  }
  page_state decrement(std::uint32_t i, release_to to) {
    model_frame& m = f_[i];
    if (--m.share != 0) return page_state::active;
    if (--m.ref != 0) {
      m.state = page_state::transition;
      m.pending = to;
      return m.state;
    }
    return place(i, to);
  }
  page_state remove_reference(std::uint32_t i) {
    model_frame& m = f_[i];
    --m.ref;
    if (m.ref != 0 || m.state == page_state::active) return m.state;
    const release_to to = m.pending;
    m.pending = release_to::free_list;
    if (m.bad_pending && to != release_to::free_list)
      calls_.push_back({pfn{i}, m.link, m.original});
    return place(i, to);
  }
  void reclaim(std::uint32_t i) {
    model_frame& m = f_[i];
    if (m.state != page_state::transition) remove(i);
    m.state = page_state::active;
    m.share = 1;
    ++m.ref;
  }
  void written(std::uint32_t i) {
    remove(i);
    model_frame& m = f_[i];
    m.modified = false;
    if (m.bad_pending) {
      calls_.push_back({pfn{i}, m.link, m.original});
      to_bad(i);
    } else {
      m.state = page_state::standby;
      standby_.push_back(i);
    }
  }
  void begin_write(std::uint32_t i) {
    remove(i);
    model_frame& m = f_[i];
    m.state = page_state::transition;
    m.ref = 1;
    m.writing = true;
    m.pending = release_to::backing_store;
  }
  page_state end_write(std::uint32_t i, write_outcome o) {
    f_[i].writing = false;
    if (o == write_outcome::succeeded) f_[i].modified = false;
    return remove_reference(i);
  }
  void allow_write(std::uint32_t i) {
    remove(i);
    f_[i].state = page_state::modified;
    modified_.push_back(i);
  }
  std::uint64_t zero_free(std::uint64_t n) {
    std::uint64_t done = 0;
    for (; done < n; ++done) {
      std::uint32_t c = colours;
      for (std::uint32_t k = 0; k < colours; ++k) {
        const std::uint32_t col = (zero_colour_ + k) % colours;
        if (!free_[col].empty()) {
          c = col;
          break;
        }
      }
      if (c == colours) break;
      if (colours > 1) zero_colour_ = (c + 1) % colours;
      const std::uint32_t i = free_[c].front();
      free_[c].erase(free_[c].begin());
      f_[i].state = page_state::zeroed;
      zeroed_[c].insert(zeroed_[c].begin(), i);
    }
    return done;
  }
  void mark_bad(std::uint32_t i) {
    model_frame& m = f_[i];
    switch (m.state) {
      case page_state::zeroed:
      case page_state::free:
        remove(i);
        to_bad(i);
        break;
      case page_state::standby:
        remove(i);
        calls_.push_back({pfn{i}, m.link, m.original});
        to_bad(i);
        break;
      case page_state::bad: break;
      default: m.bad_pending = true;
    }
  }
  // A released table is zero (its entries went to zero): to the zeroed
  // list's front, or bad when marked so meanwhile.
  void release_table(std::uint32_t i) {
    model_frame& m = f_[i];
    m.table = false;
    m.ref = 0;
    if (m.bad_pending) {
      to_bad(i);
      return;
    }
    m.state = page_state::zeroed;
    m.modified = false;
    zeroed_[m.colour].insert(zeroed_[m.colour].begin(), i);
  }
};

// The first difference between the database and the model, or "".
template <class Fixture, class Model>
std::string difference(const Fixture& fx, Model& model, bool contents) {
  if (!fx.db.check_invariants(contents ? content_check::yes
                                       : content_check::no))
    return "invariants";
  if (fx.calls != model.calls_) return "owner calls";
  if (fx.db.available() != model.available()) return "available";
  for (std::uint32_t i = 0; i < model.f_.size(); ++i) {
    const pfn_entry& e = fx.db.entry(pfn{i});
    const model_frame& m = model.f_[i];
    const std::string at = "frame " + std::to_string(i) + ": ";
    if (e.state() != m.state) return at + "state";
    if (e.share_count() != m.share) return at + "share count";
    if (e.reference_count() != m.ref) return at + "reference count";
    if (e.modified() != m.modified) return at + "modified";
    if (e.bad_pending() != m.bad_pending) return at + "bad pending";
    if (e.page_table() != m.table) return at + "page table";
    if (e.write_in_progress() != m.writing) return at + "writing";
    if (!(e.link() == m.link)) return at + "link";
    if (e.original_pte() != m.original) return at + "original PTE";
    if (m.state == page_state::transition && e.pending_release() != m.pending)
      return at + "pending release";
  }
  for (unsigned s = 0; s <= static_cast<unsigned>(page_state::bad); ++s) {
    const page_state st = static_cast<page_state>(s);
    const bool coloured = st == page_state::zeroed || st == page_state::free;
    for (std::uint32_t c = 0; c < (coloured ? Model::colours : 1); ++c)
      if (fx.list(st, c) != model.list(st, c))
        return std::string("list order of ") + page_state_name(st) +
               " colour " + std::to_string(c);
  }
  return "";
}

// What a run went through, so the test can prove the sequences reach the
// interesting paths.
struct coverage {
  std::uint64_t no_memory = 0;
  std::uint64_t repurposed = 0;
  std::uint64_t bad = 0;
  std::uint64_t transitions = 0;
  std::uint64_t tables = 0;
};

template <class Colouring>
void run_random(std::uint32_t seed, std::uint32_t frames, int steps,
                coverage& seen) {
  CAPTURE(seed);
  pfn_fixture<Colouring> fx(frames);
  pfn_model<Colouring> model(frames);
  std::mt19937 rng(seed);
  auto pick = [&](auto pred) -> std::uint32_t {
    std::vector<std::uint32_t> c;
    for (std::uint32_t i = 0; i < frames; ++i)
      if (pred(model.f_[i])) c.push_back(i);
    if (c.empty()) return pfn_entry::no_frame;
    return c[rng() % c.size()];
  };
  auto random_release = [&] { return static_cast<release_to>(rng() % 3); };
  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    const unsigned op = rng() % 16;
    CAPTURE(op);
    switch (op) {
      case 0:
      case 1:
      case 2: {  // allocate, map, scribble
        const page_need need = rng() % 2 ? page_need::zeroed : page_need::any;
        const std::uint32_t hint = rng() % 8;
        const std::uint32_t want = model.allocate(need, hint);
        result<pfn> r = fx.db.allocate(need, hint);
        if (want == pfn_entry::no_frame) {
          REQUIRE_FALSE(r.ok());
          CHECK(r.error() == status::no_memory);
          ++seen.no_memory;
          break;
        }
        REQUIRE(r.ok());
        REQUIRE(r->raw() == want);
        if (need == page_need::zeroed) CHECK(fx.memory.is_zero(*r));
        fx.memory.scribble(*r, static_cast<std::uint8_t>(rng()));
        const pte_link link =
            rng() % 2 ? pte_link::hardware_pte(paddr{(rng() & 0xFFFFFu) << 3})
                      : pte_link::prototype_pte(rng() & 0xFFFFu);
        const std::uint64_t original = (std::uint64_t{rng()} << 12) | 0x80;
        fx.db.set_pte_link(*r, link, original);
        model.f_[want].link = link;
        model.f_[want].original = original;
        if (rng() % 2) {
          fx.db.set_modified(*r);
          model.f_[want].modified = true;
        }
        break;
      }
      case 3: {  // share count up
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::active && !m.table;
        });
        if (i == pfn_entry::no_frame) break;
        fx.db.increment_share_count(pfn{i});
        ++model.f_[i].share;
        break;
      }
      case 4:
      case 5: {  // share count down (release)
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::active && !m.table;
        });
        if (i == pfn_entry::no_frame) break;
        const release_to to = random_release();
        CHECK(fx.db.decrement_share_count(pfn{i}, to) ==
              model.decrement(i, to));
        break;
      }
      case 6: {  // I/O reference
        const std::uint32_t i = pick([](const model_frame& m) {
          return (m.state == page_state::active ||
                  m.state == page_state::transition) &&
                 !m.table;
        });
        if (i == pfn_entry::no_frame) break;
        if (rng() % 2) {
          fx.db.add_reference(pfn{i});
          ++model.f_[i].ref;
          ++model.f_[i].extra;
        } else if (model.f_[i].extra > 0) {
          --model.f_[i].extra;
          CHECK(fx.db.remove_reference(pfn{i}) == model.remove_reference(i));
        }
        break;
      }
      case 7: {  // soft fault
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::standby ||
                 m.state == page_state::modified ||
                 m.state == page_state::modified_no_write ||
                 m.state == page_state::transition;
        });
        if (i == pfn_entry::no_frame) break;
        fx.db.reclaim(pfn{i});
        model.reclaim(i);
        break;
      }
      case 8: {  // zero page worker
        const std::uint64_t n = rng() % 5;
        CHECK(fx.db.zero_free_pages(n) == model.zero_free(n));
        break;
      }
      case 9: {  // mark bad (rarely, or the frames run out quickly)
        if (rng() % 4 != 0) break;
        const std::uint32_t i = rng() % frames;
        fx.db.mark_bad(pfn{i});
        model.mark_bad(i);
        break;
      }
      case 10: {  // synchronous write
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::modified;
        });
        if (i == pfn_entry::no_frame) break;
        fx.db.move_to_standby_after_write(pfn{i});
        model.written(i);
        break;
      }
      case 11: {  // asynchronous write begins
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::modified;
        });
        if (i == pfn_entry::no_frame) break;
        fx.db.begin_write(pfn{i});
        model.begin_write(i);
        break;
      }
      case 12: {  // asynchronous write ends
        const std::uint32_t i =
            pick([](const model_frame& m) { return m.writing; });
        if (i == pfn_entry::no_frame) break;
        const write_outcome o =
            rng() % 4 ? write_outcome::succeeded : write_outcome::failed;
        CHECK(fx.db.end_write(pfn{i}, o) == model.end_write(i, o));
        break;
      }
      case 13: {  // modified-no-write may be written
        const std::uint32_t i = pick([](const model_frame& m) {
          return m.state == page_state::modified_no_write;
        });
        if (i == pfn_entry::no_frame) break;
        fx.db.allow_write(pfn{i});
        model.allow_write(i);
        break;
      }
      case 14: {  // page-table frame
        const std::uint32_t want = model.allocate(page_need::zeroed, 0);
        result<pfn> r = fx.db.allocate_table_frame();
        if (want == pfn_entry::no_frame) {
          CHECK(r.error() == status::no_memory);
          break;
        }
        REQUIRE(r.ok());
        REQUIRE(r->raw() == want);
        CHECK(fx.memory.is_zero(*r));
        model.f_[want].table = true;
        model.f_[want].share = 0;
        ++seen.tables;
        break;
      }
      case 15: {
        const std::uint32_t i =
            pick([](const model_frame& m) { return m.table; });
        if (i == pfn_entry::no_frame) break;
        fx.db.release_table_frame(pfn{i});
        model.release_table(i);
        break;
      }
    }
    REQUIRE(difference(fx, model, step % 64 == 0) == "");
    if (fx.db.count(page_state::transition) != 0) ++seen.transitions;
  }
  seen.repurposed += fx.calls.size();
  seen.bad += fx.db.count(page_state::bad);
  CHECK(difference(fx, model, true) == "");
}

void check_coverage(const coverage& seen) {
  CHECK(seen.no_memory > 0);
  CHECK(seen.repurposed > 0);
  CHECK(seen.bad > 0);
  CHECK(seen.transitions > 0);
  CHECK(seen.tables > 0);
}

}  // namespace

TEST_CASE("pfn_database: random sequences match the model (one colour)") {
  coverage seen;
  for (std::uint32_t seed = 1; seed <= 12; ++seed)
    run_random<no_colouring>(seed, 48, 1500, seen);
  check_coverage(seen);
}

TEST_CASE("pfn_database: random sequences match the model (four colours)") {
  coverage seen;
  for (std::uint32_t seed = 101; seed <= 112; ++seed)
    run_random<frame_number_colouring<4>>(seed, 48, 1500, seen);
  check_coverage(seen);
}

TEST_CASE(
    "pfn_database: random sequences across fresh chunks match the "
    "model") {
  // More frames than two chunks of fresh frames: allocation, zeroing and
  // mark_bad() reach fresh frames at every point of the run.
  constexpr std::uint32_t frames =
      2 * pfn_fixture<>::database::fresh_chunk_frames + 44;
  coverage seen;
  for (std::uint32_t seed = 201; seed <= 204; ++seed) {
    run_random<no_colouring>(seed, frames, 3000, seen);
    run_random<frame_number_colouring<4>>(seed + 100, frames, 3000, seen);
  }
  check_coverage(seen);
}
