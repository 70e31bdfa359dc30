# The PE parser's fuzz target (tests/fuzz/fuzz_pe_image.cpp), built the
# way tests/fuzz/CMakeLists.txt builds fuzz_address_space. Included from
# tests/fuzz/CMakeLists.txt:
#
#   include(${PROJECT_SOURCE_DIR}/tests/image/fuzz.cmake)
#
# fuzz_pe_image_plain, every compiler: the target with a main of its own
# (tests/image/fuzz_pe_main.cpp). ctest replays the seed corpus
# (tests/image/corpus, small images from the test builder; the image tests
# check that they still are its images) and 100,000 mutations of it
# (fuzz_pe_image_replay), so the g++ builds run the target too.
#
# fuzz_pe_image, clang only: the libFuzzer build. ctest runs the corpus
# once (fuzz_pe_image_corpus) and a bounded session of 20 seconds
# (fuzz_pe_image) that writes what it finds to the build tree, never to
# the committed corpus.

include_guard(GLOBAL)

set(MMKIT_PE_FUZZ_CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus)
set(MMKIT_PE_FUZZ_SOURCE ${CMAKE_CURRENT_LIST_DIR}/../fuzz/fuzz_pe_image.cpp)

function(mmkit_pe_fuzz_options target)
  target_link_libraries(${target} PRIVATE mmkit::mmkit mmkit_warnings)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${target} PRIVATE MMKIT_ENABLE_ASSERTS)
endfunction()

add_executable(fuzz_pe_image_plain
  ${CMAKE_CURRENT_LIST_DIR}/fuzz_pe_main.cpp ${MMKIT_PE_FUZZ_SOURCE})
mmkit_pe_fuzz_options(fuzz_pe_image_plain)
add_test(NAME fuzz_pe_image_replay
         COMMAND fuzz_pe_image_plain --random 100000 ${MMKIT_PE_FUZZ_CORPUS})
set_tests_properties(fuzz_pe_image_replay PROPERTIES TIMEOUT 300)

if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  add_executable(fuzz_pe_image ${MMKIT_PE_FUZZ_SOURCE})
  mmkit_pe_fuzz_options(fuzz_pe_image)
  target_compile_options(fuzz_pe_image PRIVATE
    -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_pe_image PRIVATE -fsanitize=fuzzer,address,undefined)

  file(GLOB MMKIT_PE_FUZZ_SEEDS CONFIGURE_DEPENDS ${MMKIT_PE_FUZZ_CORPUS}/*)
  add_test(NAME fuzz_pe_image_corpus COMMAND fuzz_pe_image ${MMKIT_PE_FUZZ_SEEDS})

  set(MMKIT_PE_FUZZ_WORK ${CMAKE_CURRENT_BINARY_DIR}/pe_corpus)
  file(MAKE_DIRECTORY ${MMKIT_PE_FUZZ_WORK})
  add_test(NAME fuzz_pe_image
           COMMAND fuzz_pe_image -max_total_time=20 -rss_limit_mb=2048
                   -max_len=8192 ${MMKIT_PE_FUZZ_WORK} ${MMKIT_PE_FUZZ_CORPUS})
  set_tests_properties(fuzz_pe_image PROPERTIES TIMEOUT 120)
endif()
