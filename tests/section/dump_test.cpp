// The `!vad` dump of a space with views: Mapped rows name their backing as
// the debugger prints it, "Pagefile section, shared commit 0x<pages>" or
// the file's name, beside Private rows with none.
#include "section_fixture.hpp"

#include <mmkit/section/section_dump.hpp>
#include <mmkit/vad/vad_dump.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace section_test;

TEST_SUITE("section") {
  TEST_CASE("!vad: Mapped rows with their backing") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(0x3000);
    memory_store store(bytes.data(), bytes.size(), 0x3000, false,
                       "\\Windows\\System32\\locale.nls");
    file_object file(store);
    space<arch::x86_64> as(sys);
    vaddr priv{0x10000};
    std::uint64_t size = 0x1000;
    REQUIRE(as.allocate(priv, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
    section_handle pf =
        make_page_file_section(sys, 0x5000, page::readwrite, sec::reserve);
    section_handle nls;
    REQUIRE(create_section(sys, nls, section_access::map_read, nullptr, 0, 0,
                           page::readonly, sec::commit,
                           &file) == status::success);
    const vaddr a = map(as, pf, page::readwrite);
    vaddr c = a;
    std::uint64_t cs = 0x3000;
    REQUIRE(as.allocate(c, cs, mem::commit, page::readwrite) ==
            status::success);
    const vaddr b = map(as, nls, page::readonly);
    (void)b;
    std::string text;
    auto out = [&](const char* p, std::size_t n) { text.append(p, n); };
    dump_vads(as.vads(), out, section_vad_names{});
    CAPTURE(text);
    CHECK(text.find(" 10 10 1 Private READWRITE\n") != std::string::npos);
    CHECK(text.find(" 20 24 0 Mapped READWRITE Pagefile section, shared "
                    "commit 0x3\n") != std::string::npos);
    CHECK(text.find(" 30 32 0 Mapped READONLY "
                    "\\Windows\\System32\\locale.nls\n") != std::string::npos);
    close_section(sys, pf);
    close_section(sys, nls);
  }

}  // TEST_SUITE
