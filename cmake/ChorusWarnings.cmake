# Warnings for every chorus target (third-party headers come in as SYSTEM includes).
function(chorus_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wshadow=local)
  endif()
endfunction()

# Unity builds for the libraries under src/ (CHORUS_LIB_UNITY, default ON; the test binaries have CHORUS_TEST_UNITY,
# tests/CMakeLists.txt): CMake compiles a library's .cpp files in batches of CHORUS_LIB_UNITY_BATCH, one TU per batch,
# so the headers they share (Boost.JSON, Asio, OpenSSL, the standard library) are parsed and their inline code
# compiled once per batch instead of once per file. Files of one library share a batch's TU: helpers in anonymous
# namespaces get names no other .cpp file of the same library uses, and a macro a .cpp file defines is seen by the
# files after it in its batch (src/io/udp_server.cpp's fallback UDP_SEGMENT is the kernel's value, harmless). A file
# that must stay on its own gets SKIP_UNITY_BUILD_INCLUSION (files with per-source compile options or definitions
# stay on their own anyway). Turn off with -DCHORUS_LIB_UNITY=OFF.
option(CHORUS_LIB_UNITY "Compile the libraries under src/ as unity builds (batches of CHORUS_LIB_UNITY_BATCH files)" ON)
set(CHORUS_LIB_UNITY_BATCH 8 CACHE STRING "Library source files per unity TU")

# chorus_library(name SOURCES... DEPS...)
function(chorus_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(chorus_${name} STATIC ${ARG_SOURCES})
  add_library(chorus::${name} ALIAS chorus_${name})
  target_include_directories(chorus_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(chorus_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  chorus_target_defaults(chorus_${name})
  if(CHORUS_LIB_UNITY)
    set_target_properties(chorus_${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE BATCH
                                                    UNITY_BUILD_BATCH_SIZE ${CHORUS_LIB_UNITY_BATCH})
    # GCC checks -Wsubobject-linkage (a type with linkage holding one from an anonymous namespace) only outside the
    # main file, so it fires for every .cpp included into a unity TU: focus/router.cpp's Router::Layer, matrix's
    # Connection, the hs coroutine frames that hold lambdas. Those types are local to their file; the headers the
    # check is meant for are still checked by the test binaries and by -DCHORUS_LIB_UNITY=OFF builds.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(chorus_${name} PRIVATE -Wno-subobject-linkage)
    endif()
  endif()
endfunction()

# chorus_forbid_links(target LIBS...): fails the configure step when `target` links any of LIBS, directly or through
# the libraries it links (the layer rules of docs/ARCHITECTURE.md, checked where they matter most).
function(chorus_forbid_links target)
  set(pending ${target})
  set(seen "")
  while(pending)
    list(POP_FRONT pending current)
    if(current IN_LIST seen OR NOT TARGET ${current})
      continue()
    endif()
    list(APPEND seen ${current})
    get_target_property(aliased ${current} ALIASED_TARGET)
    if(aliased)
      list(APPEND pending ${aliased})
      continue()
    endif()
    if(NOT current STREQUAL target AND current IN_LIST ARGN)
      message(FATAL_ERROR "${target} must not link ${current} (docs/ARCHITECTURE.md, layers)")
    endif()
    foreach(property LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(deps ${current} ${property})
      if(deps)
        list(APPEND pending ${deps})
      endif()
    endforeach()
  endwhile()
endfunction()
