# Small helpers so that each folder's CMakeLists.txt is a short list of what is built from what
# (after Abseil's absl_cc_library / absl_cc_test).

set(MEI_WARNINGS -Wall -Wextra -Wpedantic)
if(MEI_WERROR)
  list(APPEND MEI_WARNINGS -Werror)
endif()

if(MEI_SANITIZE)
  add_compile_options(-fsanitize=${MEI_SANITIZE} -fno-omit-frame-pointer)
  if(MEI_SANITIZE MATCHES "thread")
    # Asio's atomic_thread_fence use draws -Wtsan warnings from its own headers.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=${MEI_SANITIZE})
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
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${ARG_NAME} PRIVATE MEI_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${ARG_NAME}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
