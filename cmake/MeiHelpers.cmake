# Small helpers so that each folder's CMakeLists.txt is a short list of what is built from what
# (after Abseil's absl_cc_library / absl_cc_test).

set(MEI_WARNINGS -Wall -Wextra -Wpedantic)
# GCC 12 takes the sized operator delete of Asio's coroutine frames (awaitable_frame_base) for a
# mismatch with their operator new, which it cannot see through the coroutine's allocation
# (a false positive).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND MEI_WARNINGS -Wno-mismatched-new-delete)
endif()
if(MEI_WERROR)
  list(APPEND MEI_WARNINGS -Werror)
endif()

# Binaries name only the shared libraries they use, as Debian's gcc links by default and its clang
# does not: the runtime image installs the packages of exactly those (tests/helm/image_test.mjs).
add_link_options(LINKER:--as-needed)

# Sanitizer builds (MEI_SANITIZE=address,undefined | thread; scripts/sanitize). Every report fails
# hard: UBSan is built not to recover, and the run-time defaults compiled into each executable
# (cmake/sanitizer_defaults.cc.in) make TSan halt on its first report and carry tests/tsan.supp, so
# a test, the servers an integration test starts and a binary run by hand all behave the same.
# _GLIBCXX_ASSERTIONS adds libstdc++'s bounds checks. MEI_SANITIZED lets a test relax a bound that
# the sanitizer's own cost breaks (shadow memory, slowdown), and only that bound.
if(MEI_SANITIZE)
  if(NOT MEI_SANITIZE MATCHES "^(address|undefined|address,undefined|undefined,address|thread)$")
    message(FATAL_ERROR
      "MEI_SANITIZE='${MEI_SANITIZE}': use address,undefined, address, undefined or thread.")
  endif()
  add_compile_options(-fsanitize=${MEI_SANITIZE} -fno-omit-frame-pointer)
  add_compile_definitions(MEI_SANITIZED=1 _GLIBCXX_ASSERTIONS)
  if(MEI_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 15)
      # clang before 15 fails on coroutines with UBSan's function check (llvm-project issue 49689);
      # the check only catches calls through mistyped function pointers.
      add_compile_options(-fno-sanitize=function)
    endif()
  endif()
  if(MEI_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's atomic_thread_fence use draws -Wtsan warnings from its own headers.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=${MEI_SANITIZE})
  file(READ ${PROJECT_SOURCE_DIR}/tests/tsan.supp MEI_TSAN_SUPPRESSIONS)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${PROJECT_SOURCE_DIR}/tests/tsan.supp)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/sanitizer_defaults.cc.in
                 ${PROJECT_BINARY_DIR}/sanitizer_defaults.cc @ONLY)
  add_library(mei_sanitizer_defaults OBJECT ${PROJECT_BINARY_DIR}/sanitizer_defaults.cc)
endif()

# The sanitizer run-time defaults, linked into every executable of a sanitizer build.
function(mei_add_sanitizer_defaults target)
  if(MEI_SANITIZE)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:mei_sanitizer_defaults>)
  endif()
endfunction()

# Unit test binaries, so that `cmake --build DIR --target mei_unit_tests` builds what
# `ctest -L unit` runs and nothing else (scripts/sanitize does so).
if(MEI_BUILD_TESTS)
  add_custom_target(mei_unit_tests)
endif()

# mei_library(NAME name [ALIAS mei::name] SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
function(mei_library)
  cmake_parse_arguments(ARG "" "NAME;ALIAS" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${ARG_NAME} PRIVATE ${MEI_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} PUBLIC ${ARG_PUBLIC_DEPS})
  if(ARG_ALIAS)
    add_library(${ARG_ALIAS} ALIAS ${ARG_NAME})
  endif()
endfunction()

# mei_binary(NAME name SRCS ... [DEPS ...])
function(mei_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${MEI_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  mei_add_sanitizer_defaults(${ARG_NAME})
endfunction()

# mei_test(NAME name SRCS ... [DEPS ...] [LABELS unit|integration ...] [TIMEOUT seconds])
# Builds a GoogleTest binary and registers each of its tests with CTest under the given labels.
function(mei_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${MEI_WARNINGS})
  # A test's own code is glue around the libraries: in the build types that optimise, it is
  # compiled without optimisation and with line tables only, in a third of the time of -O2 -g (CI
  # compiles about a hundred test files). The libraries keep their flags, but an inline function
  # that a test and a library both instantiate (a std or Asio template) is kept once by the
  # linker, possibly the test's unoptimised copy: unit tests are no benchmarks. The process-level
  # tests run the real binaries, which are built as users get them.
  target_compile_options(${ARG_NAME} PRIVATE
    "$<$<CONFIG:RelWithDebInfo,Release,MinSizeRel>:-O0;-g1>")
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${ARG_NAME} PRIVATE MEI_BINARY_DIR="${PROJECT_BINARY_DIR}")
  mei_add_sanitizer_defaults(${ARG_NAME})
  if("unit" IN_LIST ARG_LABELS)
    add_dependencies(mei_unit_tests ${ARG_NAME})
  endif()
  gtest_discover_tests(${ARG_NAME}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
