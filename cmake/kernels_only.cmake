# EDGEFORMER_KERNELS_ONLY: the library is src/core + src/kernels (set up by
# CMakeLists.txt); this adds their tests, linked against GoogleTest built
# from source when EDGEFORMER_GTEST_SOURCE_DIR is set (Debian ships the
# sources in /usr/src/googletest; its libgtest.a is for the host only).
#
# When cross-compiling with an emulator (cmake/aarch64-linux-gnu.cmake), the
# test binary runs once per emulated CPU in EDGEFORMER_QEMU_CPUS, each entry
# "<qemu cpu model>:<1 if it has dotprod, else 0>". The expectation goes to
# the tests as EF_EXPECT_DOTPROD so they check the probe, not trust it.
if(NOT EDGEFORMER_TESTS)
  return()
endif()
enable_testing()

if(EDGEFORMER_GTEST_SOURCE_DIR)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${EDGEFORMER_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
  set(EF_GTEST_LIBS gtest gtest_main)
else()
  find_package(GTest REQUIRED)
  set(EF_GTEST_LIBS GTest::gtest GTest::gtest_main)
endif()

add_executable(edgeformer_tests ${EF_TEST_SOURCES})
set_target_properties(edgeformer_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
target_compile_options(edgeformer_tests PRIVATE ${EF_WARNINGS})
target_link_libraries(edgeformer_tests PRIVATE edgeformer ${EF_GTEST_LIBS})
target_compile_definitions(edgeformer_tests PRIVATE
  EF_SHARED_DATA_DIR="${CMAKE_SOURCE_DIR}/../shared/data")

set(EDGEFORMER_QEMU_CPUS "max:1;cortex-a57:0" CACHE STRING
    "Emulated CPUs to run the tests on: <qemu -cpu model>:<has dotprod 0|1>")
if(CMAKE_CROSSCOMPILING AND CMAKE_CROSSCOMPILING_EMULATOR)
  foreach(entry IN LISTS EDGEFORMER_QEMU_CPUS)
    string(REPLACE ":" ";" parts "${entry}")
    list(GET parts 0 cpu)
    list(GET parts 1 dotprod)
    # COMMAND names the target, so CMake prefixes the emulator; qemu-user
    # takes the CPU model from QEMU_CPU.
    add_test(NAME kernels_on_${cpu} COMMAND edgeformer_tests --gtest_brief=1)
    set_tests_properties(kernels_on_${cpu} PROPERTIES
      ENVIRONMENT "QEMU_CPU=${cpu};EF_EXPECT_DOTPROD=${dotprod}" TIMEOUT 600)
  endforeach()
else()
  add_test(NAME kernels COMMAND edgeformer_tests --gtest_brief=1)
endif()
