# Finds llama.cpp at the pinned release: an installed one when CMake finds that version,
# otherwise the copy scripts/build-llama.sh builds once into ~/.cache/ponder.

set(PONDER_LLAMA_COMMIT 80fb11a)  # llama.cpp 0.4.0, as carried by node-llama-cpp 3.21.1

# The pinned release, with llama.cpp's `common` library installed beside it (its headers
# under include/llama-common, which scripts/build-llama.sh puts there).
function(ponder_llama_is_pinned result)
  if(llama_FOUND AND LLAMA_BUILD_COMMIT STREQUAL PONDER_LLAMA_COMMIT
     AND EXISTS "${LLAMA_INCLUDE_DIR}/llama-common/chat.h"
     AND EXISTS "${LLAMA_LIB_DIR}/${CMAKE_STATIC_LIBRARY_PREFIX}llama-common${CMAKE_STATIC_LIBRARY_SUFFIX}"
     AND EXISTS "${LLAMA_LIB_DIR}/${CMAKE_STATIC_LIBRARY_PREFIX}llama-common-base${CMAKE_STATIC_LIBRARY_SUFFIX}")
    set(${result} TRUE PARENT_SCOPE)
  else()
    set(${result} FALSE PARENT_SCOPE)
  endif()
endfunction()

# scripts/build-llama.sh: builds the pinned release into the cache once, or completes a
# cache an older script made; prints the install prefix.
function(ponder_llama_cached_build out)
  execute_process(
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/build-llama.sh
    OUTPUT_VARIABLE prefix
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE build_result)
  if(NOT build_result EQUAL 0)
    message(FATAL_ERROR "ponder: building the pinned llama.cpp failed (see ~/.cache/ponder/llama.cpp-*/build.log)")
  endif()
  set(${out} "${prefix}" PARENT_SCOPE)
endfunction()

if(NOT PONDER_LLAMA_PREFIX)
  find_package(llama CONFIG QUIET)
  ponder_llama_is_pinned(pinned)
  if(NOT pinned)
    message(STATUS "ponder: no installed llama.cpp at ${PONDER_LLAMA_COMMIT}; using the cached build")
    ponder_llama_cached_build(prefix)
    set(PONDER_LLAMA_PREFIX "${prefix}" CACHE PATH "llama.cpp install prefix" FORCE)
  endif()
endif()

if(PONDER_LLAMA_PREFIX)
  unset(llama_FOUND)
  find_package(llama CONFIG REQUIRED PATHS "${PONDER_LLAMA_PREFIX}" NO_DEFAULT_PATH)
  ponder_llama_is_pinned(pinned)
  if(NOT pinned)
    # A build directory configured before the cache had llama.cpp's common headers: the
    # script adds them to its cache (without building again).
    ponder_llama_cached_build(prefix)
    if(prefix STREQUAL PONDER_LLAMA_PREFIX)
      ponder_llama_is_pinned(pinned)
    endif()
  endif()
  if(NOT pinned)
    message(FATAL_ERROR "ponder: ${PONDER_LLAMA_PREFIX} holds llama.cpp ${LLAMA_BUILD_COMMIT}, need ${PONDER_LLAMA_COMMIT} "
                        "with its common library and headers (scripts/build-llama.sh installs them)")
  endif()
  set(PONDER_LLAMA_BIN_DIR "${PONDER_LLAMA_PREFIX}/bin")
else()
  set(PONDER_LLAMA_BIN_DIR "${LLAMA_BIN_DIR}")
endif()
message(STATUS "ponder: llama.cpp ${LLAMA_VERSION} (${LLAMA_BUILD_COMMIT}) from ${LLAMA_INCLUDE_DIR}")

# llama.cpp's common library: the Jinja chat-template engine (ponder/chat_template.h).
add_library(ponder_llama_common STATIC IMPORTED)
set_target_properties(ponder_llama_common PROPERTIES
  IMPORTED_LOCATION "${LLAMA_LIB_DIR}/${CMAKE_STATIC_LIBRARY_PREFIX}llama-common${CMAKE_STATIC_LIBRARY_SUFFIX}"
  INTERFACE_INCLUDE_DIRECTORIES "${LLAMA_INCLUDE_DIR}/llama-common"
  INTERFACE_LINK_LIBRARIES "${LLAMA_LIB_DIR}/${CMAKE_STATIC_LIBRARY_PREFIX}llama-common-base${CMAKE_STATIC_LIBRARY_SUFFIX};llama")
