# The PE images the image tests, benchmarks and examples map, built from
# tests/image/pe/ by the mingw-w64 cross compilers when they are installed
# (Debian: g++-mingw-w64-x86-64 and g++-mingw-w64-i686; the README's set-up
# installs them).
#
#   mmkit_test_pe_images   an INTERFACE target: link it to get the images
#                          built first and their paths as compile
#                          definitions, one per image that can be built:
#     MMKIT_TEST_PE64_DLL        x86_64 DLL, base 0x180000000
#     MMKIT_TEST_PE64_EXE        x86_64 EXE, base 0x140000000, FileAlignment
#                                0x400, stack 0x200000 reserve, 0x3000 commit
#     MMKIT_TEST_PE64_BIG_DLL    x86_64 DLL of about 1 MiB (pe/big.c), base
#                                0x180000000, a relocation every 8 bytes of
#                                256 KiB
#     MMKIT_TEST_PE32_DLL        i686 DLL, base 0x10000000
#     MMKIT_TEST_PE32_EXE        i686 EXE, base 0x400000, SectionAlignment
#                                0x2000 (padding pages reserved)
#     MMKIT_TEST_PE32_FIXED_EXE  i686 EXE, base 0x400000, relocations
#                                stripped (IMAGE_FILE_RELOCS_STRIPPED)
#   MMKIT_TEST_PE_IMAGE_DIR     where they are written (a CMake variable)
#
# Without a cross compiler the definitions of its arch are missing and the
# tests that need them are skipped (doctest::skip), with a note here.
#
# The images link with -nostdlib (no CRT, no imports) and
# --no-insert-timestamp, so their bytes depend only on the sources, the
# flags below and the compiler version. Include this file from any
# CMakeLists that needs the images; it defines the target once.

include_guard(GLOBAL)

find_program(MMKIT_MINGW64_CC x86_64-w64-mingw32-gcc)
find_program(MMKIT_MINGW32_CC i686-w64-mingw32-gcc)

set(MMKIT_TEST_PE_IMAGE_DIR ${CMAKE_BINARY_DIR}/pe_images)
set(MMKIT_TEST_PE_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/pe)
file(MAKE_DIRECTORY ${MMKIT_TEST_PE_IMAGE_DIR})

add_library(mmkit_test_pe_images INTERFACE)
add_custom_target(mmkit_test_pe_image_files)
add_dependencies(mmkit_test_pe_images mmkit_test_pe_image_files)
target_compile_definitions(mmkit_test_pe_images INTERFACE
  MMKIT_TEST_PE_IMAGE_DIR="${MMKIT_TEST_PE_IMAGE_DIR}")

# mmkit_test_pe_image(<DEFINE> <file> <compiler> <source> <flags...>)
function(mmkit_test_pe_image define file compiler source)
  set(out ${MMKIT_TEST_PE_IMAGE_DIR}/${file})
  add_custom_command(OUTPUT ${out}
    COMMAND ${compiler} -O1 -nostdlib -Wl,--no-insert-timestamp ${ARGN}
            -o ${out} ${MMKIT_TEST_PE_SOURCE_DIR}/${source}
    DEPENDS ${MMKIT_TEST_PE_SOURCE_DIR}/${source}
    COMMENT "mingw-w64: ${file}"
    VERBATIM)
  add_custom_target(mmkit_test_pe_image_${define} DEPENDS ${out})
  add_dependencies(mmkit_test_pe_image_files mmkit_test_pe_image_${define})
  target_compile_definitions(mmkit_test_pe_images INTERFACE
    MMKIT_TEST_${define}="${out}")
endfunction()

if(MMKIT_MINGW64_CC)
  mmkit_test_pe_image(PE64_DLL pe64.dll ${MMKIT_MINGW64_CC} image.c
    -shared -DMMKIT_IMAGE_DLL -Wl,-e,image_entry
    -Wl,--image-base,0x180000000)
  mmkit_test_pe_image(PE64_EXE pe64.exe ${MMKIT_MINGW64_CC} image.c
    -Wl,-e,image_entry -Wl,--image-base,0x140000000 -Wl,--dynamicbase
    -Wl,--file-alignment,0x400 -Xlinker --stack=0x200000,0x3000)
  mmkit_test_pe_image(PE64_BIG_DLL pe64_big.dll ${MMKIT_MINGW64_CC} big.c
    -shared -Wl,-e,image_entry -Wl,--image-base,0x180000000)
else()
  message(STATUS "mmkit: x86_64-w64-mingw32-gcc not found: the tests on "
                 "mingw-built x86_64 PE images are skipped "
                 "(apt-get install g++-mingw-w64-x86-64)")
endif()

if(MMKIT_MINGW32_CC)
  mmkit_test_pe_image(PE32_DLL pe32.dll ${MMKIT_MINGW32_CC} image.c
    -shared -DMMKIT_IMAGE_DLL -Wl,-e,_image_entry
    -Wl,--image-base,0x10000000)
  mmkit_test_pe_image(PE32_EXE pe32.exe ${MMKIT_MINGW32_CC} image.c
    -Wl,-e,_image_entry -Wl,--image-base,0x400000 -Wl,--dynamicbase
    -Wl,--section-alignment,0x2000)
  # No export and no dynamic base: ld then leaves out .reloc and sets
  # IMAGE_FILE_RELOCS_STRIPPED.
  mmkit_test_pe_image(PE32_FIXED_EXE pe32_fixed.exe ${MMKIT_MINGW32_CC}
    image.c -Wl,-e,_image_entry -Wl,--image-base,0x400000
    -Wl,--disable-dynamicbase -Wl,--disable-reloc-section)
else()
  message(STATUS "mmkit: i686-w64-mingw32-gcc not found: the tests on "
                 "mingw-built i686 PE images are skipped "
                 "(apt-get install g++-mingw-w64-i686)")
endif()
