# Finds llama.cpp at the pinned release: an installed one when CMake finds that version,
# otherwise the copy scripts/build-llama.sh builds once into ~/.cache/ponder.

set(PONDER_LLAMA_COMMIT 80fb11a)  # llama.cpp 0.4.0, as carried by node-llama-cpp 3.21.1

function(ponder_llama_is_pinned result)
  if(llama_FOUND AND LLAMA_BUILD_COMMIT STREQUAL PONDER_LLAMA_COMMIT)
    set(${result} TRUE PARENT_SCOPE)
  else()
    set(${result} FALSE PARENT_SCOPE)
  endif()
endfunction()

if(NOT PONDER_LLAMA_PREFIX)
  find_package(llama CONFIG QUIET)
  ponder_llama_is_pinned(pinned)
  if(NOT pinned)
    message(STATUS "ponder: no installed llama.cpp at ${PONDER_LLAMA_COMMIT}; using the cached build")
    execute_process(
      COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/build-llama.sh
      OUTPUT_VARIABLE PONDER_LLAMA_PREFIX
      OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE build_result)
    if(NOT build_result EQUAL 0)
      message(FATAL_ERROR "ponder: building the pinned llama.cpp failed (see ~/.cache/ponder/llama.cpp-*/build.log)")
    endif()
    set(PONDER_LLAMA_PREFIX "${PONDER_LLAMA_PREFIX}" CACHE PATH "llama.cpp install prefix" FORCE)
  endif()
endif()

if(PONDER_LLAMA_PREFIX)
  unset(llama_FOUND)
  find_package(llama CONFIG REQUIRED PATHS "${PONDER_LLAMA_PREFIX}" NO_DEFAULT_PATH)
  ponder_llama_is_pinned(pinned)
  if(NOT pinned)
    message(FATAL_ERROR "ponder: ${PONDER_LLAMA_PREFIX} holds llama.cpp ${LLAMA_BUILD_COMMIT}, need ${PONDER_LLAMA_COMMIT}")
  endif()
  set(PONDER_LLAMA_BIN_DIR "${PONDER_LLAMA_PREFIX}/bin")
else()
  set(PONDER_LLAMA_BIN_DIR "${LLAMA_BIN_DIR}")
endif()
message(STATUS "ponder: llama.cpp ${LLAMA_VERSION} (${LLAMA_BUILD_COMMIT}) from ${LLAMA_INCLUDE_DIR}")
