# The GoogleTest binaries and their CTest registration (included by
# CMakeLists.txt when EDGEFORMER_TESTS is on).
#
#   edgeformer_tests         every *_test.cpp under src/ and tests/ (+ tests/ helpers)
#   edgeformer_kernel_tests  only src/core + src/kernels tests; built when
#                            cross-compiling with an emulator, for the CPUs
#                            that run the kernel subset only
#
# Native builds register each test separately (gtest_discover_tests). Cross
# builds with an emulator (cmake/aarch64-linux-gnu.cmake) run the binaries
# under it once per emulated CPU in EDGEFORMER_QEMU_CPUS, each entry
# "<qemu cpu model>:<1 if it has dotprod, else 0>:<full|kernels>", split in
# EDGEFORMER_QEMU_SHARDS GoogleTest shards so CTest runs them in parallel.
# The dotprod expectation goes to the tests as EF_EXPECT_DOTPROD so they check
# the CPU probe, not trust it; EF_CLI_EMULATOR tells tests/cli_run.h to start
# the `edgeformer` binary under the same emulator (binfmt_misc is not assumed).
enable_testing()

if(EDGEFORMER_GTEST_SOURCE_DIR)
  # Debian's googletest package: the sources libgtest-dev's host libraries are
  # built from, compiled here with the project's (cross) compiler.
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${EDGEFORMER_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
  set(EF_GTEST_LIBS gtest gtest_main)
else()
  find_package(GTest REQUIRED)
  set(EF_GTEST_LIBS GTest::gtest GTest::gtest_main)
endif()

set(EF_KERNEL_TEST_SOURCES ${EF_TEST_SOURCES})
list(FILTER EF_KERNEL_TEST_SOURCES INCLUDE REGEX "/src/(core|kernels)/")
set(EF_OTHER_TEST_SOURCES ${EF_TEST_SOURCES})
list(FILTER EF_OTHER_TEST_SOURCES EXCLUDE REGEX "/src/(core|kernels)/")
file(GLOB EF_TEST_HELPERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.cpp)
list(FILTER EF_TEST_HELPERS EXCLUDE REGEX "_test\\.cpp$")

set(EF_TEST_DEFINITIONS
    EF_SHARED_DATA_DIR="${CMAKE_SOURCE_DIR}/../shared/data"
    EF_MODELS_DIR="${CMAKE_SOURCE_DIR}/models"
    EF_CLI_PATH="${CMAKE_BINARY_DIR}/bin/edgeformer")

# Kernel tests compile once, into both binaries.
add_library(edgeformer_kernel_test_objs OBJECT ${EF_KERNEL_TEST_SOURCES})
target_compile_options(edgeformer_kernel_test_objs PRIVATE ${EF_WARNINGS})
target_compile_definitions(edgeformer_kernel_test_objs PRIVATE ${EF_TEST_DEFINITIONS})
target_include_directories(edgeformer_kernel_test_objs PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(edgeformer_kernel_test_objs PRIVATE edgeformer ${EF_GTEST_LIBS})

add_executable(edgeformer_tests $<TARGET_OBJECTS:edgeformer_kernel_test_objs>
               ${EF_OTHER_TEST_SOURCES} ${EF_TEST_HELPERS})
set_target_properties(edgeformer_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
target_compile_options(edgeformer_tests PRIVATE ${EF_WARNINGS})
target_include_directories(edgeformer_tests PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(edgeformer_tests PRIVATE edgeformer ${EF_GTEST_LIBS})
target_compile_definitions(edgeformer_tests PRIVATE ${EF_TEST_DEFINITIONS})
add_dependencies(edgeformer_tests edgeformer_cli)

if(NOT (CMAKE_CROSSCOMPILING AND CMAKE_CROSSCOMPILING_EMULATOR))
  include(GoogleTest)
  gtest_discover_tests(edgeformer_tests DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "EF_SHARED_DATA_DIR=${CMAKE_SOURCE_DIR}/../shared/data")
  return()
endif()

add_executable(edgeformer_kernel_tests $<TARGET_OBJECTS:edgeformer_kernel_test_objs>)
set_target_properties(edgeformer_kernel_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
target_link_libraries(edgeformer_kernel_tests PRIVATE edgeformer ${EF_GTEST_LIBS})

# The full suite costs about 7 minutes of CPU under qemu (vs ~6 s natively),
# so only one CPU model runs it; the kernels, where the two CPUs differ
# (neon_dotprod vs neon), run on both.
set(EDGEFORMER_QEMU_CPUS "max:1:full;cortex-a57:0:kernels" CACHE STRING
    "Emulated CPUs to run the tests on: <qemu -cpu model>:<has dotprod 0|1>:<full|kernels>")
set(EDGEFORMER_QEMU_SHARDS 4 CACHE STRING "GoogleTest shards of a full-suite run")
list(JOIN CMAKE_CROSSCOMPILING_EMULATOR " " EF_EMULATOR_COMMAND)
foreach(entry IN LISTS EDGEFORMER_QEMU_CPUS)
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 cpu)
  list(GET parts 1 dotprod)
  list(GET parts 2 suite)
  if(suite STREQUAL "full")
    set(binary edgeformer_tests)
    set(shards ${EDGEFORMER_QEMU_SHARDS})
  elseif(suite STREQUAL "kernels")
    set(binary edgeformer_kernel_tests)
    set(shards 1)
  else()
    message(FATAL_ERROR "EDGEFORMER_QEMU_CPUS entry '${entry}': suite must be full or kernels")
  endif()
  math(EXPR last "${shards} - 1")
  foreach(shard RANGE ${last})
    # COMMAND names the target, so CMake prefixes the emulator; qemu-user
    # takes the CPU model from QEMU_CPU (inherited by the CLI processes).
    set(name ${suite}_on_${cpu}_${shard}of${shards})
    add_test(NAME ${name} COMMAND ${binary} --gtest_brief=1)
    set_tests_properties(${name} PROPERTIES TIMEOUT 1800 ENVIRONMENT
      "QEMU_CPU=${cpu};EF_EXPECT_DOTPROD=${dotprod};EF_CLI_EMULATOR=${EF_EMULATOR_COMMAND};GTEST_TOTAL_SHARDS=${shards};GTEST_SHARD_INDEX=${shard};EF_SHARED_DATA_DIR=${CMAKE_SOURCE_DIR}/../shared/data")
  endforeach()
endforeach()
