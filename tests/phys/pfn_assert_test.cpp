// Illegal transitions are bugs: the database stops on MMKIT_ASSERT. Each
// case runs in a child process (doctest cannot catch an abort) and checks
// that the child died of the assertion, with its message.

#include "pfn_test_support.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <string>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace mmkit;
using mmkit::test::pfn_fixture;

namespace {

// Runs `f` in a child; returns what the child wrote to stderr if it was
// killed by SIGABRT, or "exited" / "other signal".
template <class F>
std::string run_expecting_abort(F&& f) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child dies of the assertion: the test framework's own crash
    // handler must not report it, and its output is not wanted.
    std::signal(SIGABRT, SIG_DFL);
    close(fds[0]);
    dup2(fds[1], 2);
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    f();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  if (WIFEXITED(wstatus)) return "exited";
  if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGABRT)
    return "other signal";
  return out;
}

bool asserts(auto&& f) {
  const std::string out = run_expecting_abort(f);
  INFO(out);
  return out.find("mmkit: assertion failed") != std::string::npos;
}

}  // namespace

TEST_CASE("pfn_database: illegal transitions stop on an assertion") {
  pfn_fixture<> fx(8);
  const pfn a = fx.db.allocate(page_need::any).value();
  const pfn b = fx.db.allocate(page_need::any).value();
  fx.db.set_modified(b);
  fx.db.release(b, release_to::backing_store);  // b: modified
  const pfn free_frame{fx.db.debug_head(page_state::free)};
  REQUIRE(fx.db.check_invariants());

  // The harness itself: a legal call does not abort.
  CHECK(run_expecting_abort([&] { fx.db.increment_share_count(a); }) ==
        "exited");

  // Freeing a frame that is on the free list.
  CHECK(
      asserts([&] { (void)fx.db.release(free_frame, release_to::free_list); }));
  // Freeing a frame twice.
  CHECK(asserts([&] {
    (void)fx.db.release(a, release_to::free_list);
    (void)fx.db.release(a, release_to::free_list);
  }));
  // A soft fault on a free frame (only standby/modified/transition can be).
  CHECK(asserts([&] { fx.db.reclaim(free_frame); }));
  // Writing a frame that is not on the modified list.
  CHECK(asserts([&] { fx.db.move_to_standby_after_write(a); }));
  CHECK(asserts([&] { fx.db.begin_write(free_frame); }));
  CHECK(asserts([&] { (void)fx.db.end_write(b, write_outcome::succeeded); }));
  // allow_write of a frame that is not modified-no-write.
  CHECK(asserts([&] { fx.db.allow_write(b); }));
  // Releasing a data frame as a page table, or a table with entries left.
  CHECK(asserts([&] { fx.db.release_table_frame(a); }));
  CHECK(asserts([&] {
    const pfn t = fx.db.allocate_table_frame().value();
    fx.db.table_use_count(t) = 1;
    fx.db.release_table_frame(t);
  }));
  // ... or a table whose bytes are not zero again (its use count lied).
  CHECK(asserts([&] {
    const pfn t = fx.db.allocate_table_frame().value();
    fx.memory.scribble(t, 0x11);
    fx.db.release_table_frame(t);
  }));
  // Share counts of page-table frames are use counts, not mappings.
  CHECK(asserts([&] {
    const pfn t = fx.db.allocate_table_frame().value();
    fx.db.increment_share_count(t);
  }));
  // Dropping the reference an active mapping holds.
  CHECK(asserts([&] { (void)fx.db.remove_reference(a); }));
  // Setting the back-link of a frame that is not active.
  CHECK(asserts([&] {
    fx.db.set_pte_link(b, pte_link::hardware_pte(paddr{0x1000}), 0);
  }));
  // A frame number past the end.
  CHECK(asserts([&] { fx.db.mark_bad(pfn{8}); }));
  // oldest() of an empty list.
  CHECK(asserts([&] { (void)fx.db.oldest(page_state::standby); }));

  // None of the children changed the parent's database.
  CHECK(fx.db.entry(a).state() == page_state::active);
  CHECK(fx.db.check_invariants());
}
