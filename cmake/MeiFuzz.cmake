# libFuzzer targets (tests/fuzz), built with clang when MEI_FUZZ is ON (scripts/fuzz does so).
#
# With MEI_FUZZ every target of the build, libraries included, is compiled with coverage
# instrumentation for libFuzzer (-fsanitize=fuzzer-no-link) and with AddressSanitizer and
# UndefinedBehaviorSanitizer; a UBSan report aborts (-fno-sanitize-recover), so the fuzzer sees it
# as a crash. Only the fuzz binaries link libFuzzer's main (-fsanitize=fuzzer).

if(MEI_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "MEI_FUZZ=ON needs clang (libFuzzer is part of clang), but the C++ compiler is "
      "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a separate build directory with "
      "CC=clang CXX=clang++, as scripts/fuzz does.")
  endif()
  if(MEI_SANITIZE)
    message(FATAL_ERROR
      "MEI_FUZZ=ON brings its own sanitizers (address,undefined); leave MEI_SANITIZE empty.")
  endif()
  set(MEI_FUZZ_SANITIZERS address,undefined)
  # -fno-sanitize=function: clang before 15 fails on coroutines with UBSan's function check ("Cannot
  # represent a difference across sections", llvm-project issue 49689), and the server and client
  # are coroutines. The check only catches calls through mistyped function pointers.
  add_compile_options(-fsanitize=fuzzer-no-link,${MEI_FUZZ_SANITIZERS} -fno-sanitize=function
                      -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${MEI_FUZZ_SANITIZERS})
  # Every fuzz binary, so that `cmake --build DIR --target mei_fuzz` builds them and only the
  # libraries they need.
  add_custom_target(mei_fuzz)
endif()

# mei_fuzz_target(NAME name SRCS ... [DEPS ...])
# A libFuzzer binary `fuzz_<name>` from sources that define LLVMFuzzerTestOneInput. Its seed
# corpus is tests/fuzz/corpus/<name>/ and its dictionary, if any, tests/fuzz/<name>.dict.
function(mei_fuzz_target)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target fuzz_${ARG_NAME})
  add_executable(${target} ${ARG_SRCS})
  target_compile_options(${target} PRIVATE ${MEI_WARNINGS})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS})
  target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  add_dependencies(mei_fuzz ${target})
endfunction()
