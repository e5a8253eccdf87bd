# Warnings for every chorus target (third-party headers come in as SYSTEM includes).
function(chorus_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wshadow=local)
  endif()
endfunction()

# chorus_library(name SOURCES... DEPS...)
function(chorus_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(chorus_${name} STATIC ${ARG_SOURCES})
  add_library(chorus::${name} ALIAS chorus_${name})
  target_include_directories(chorus_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(chorus_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  chorus_target_defaults(chorus_${name})
endfunction()
