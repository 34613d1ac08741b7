# Cross-compiling for 64-bit ARM Linux with Debian's toolchain
# (g++-aarch64-linux-gnu: compilers + the aarch64 libc/libstdc++ under
# /usr/aarch64-linux-gnu) and running the results with qemu-user
# (qemu-aarch64, -L points it at that sysroot).
#
# Libraries that the cross toolchain does not ship come from Debian's arm64
# multiarch packages (`dpkg --add-architecture arm64`, e.g.
# libutf8proc-dev:arm64 in /usr/lib/aarch64-linux-gnu); header-only
# packages (CLI11, nlohmann-json) are architecture-independent, so their
# CMake configs under /usr/share/cmake are used as on the host. Debian's cross
# GCC already searches /usr/include after its own sysroot and links from
# /usr/lib/aarch64-linux-gnu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)  # GoogleTest's project also enables C
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# "/" so packages and libraries installed for arm64 by dpkg multiarch are found
# (find_library looks in lib/aarch64-linux-gnu under each root, never in the
# host's lib/x86_64-linux-gnu).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must read the arm64 .pc files (utf8proc), never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Fully static executables: qemu then never loads a shared library, so the
# cross sysroot's glibc and the arm64 multiarch glibc (pulled in by
# libutf8proc2:arm64, a slightly different build) can never be mixed at run
# time, and each spawned process (CLI tests) starts faster under emulation.
set(CMAKE_EXE_LINKER_FLAGS_INIT -static)
set(EDGEFORMER_STATIC_DEPS ON CACHE BOOL "Link dependencies' static archives (.a)")

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
