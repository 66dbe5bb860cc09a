# The toy world (included from the top-level CMakeLists after ponder_toy is defined):
# the task generator and PRM data join ponder_toy; the LibTorch trainer is optional.

target_sources(ponder_toy PRIVATE
  src/toy/rng.cpp
  src/toy/task.cpp
  src/toy/dataset.cpp
  src/toy/prm.cpp
  src/toy/metrics.cpp
  src/toy/models.cpp)
# ponder: the models directory lookup (ponder::models_dir).
target_link_libraries(ponder_toy PUBLIC ponder nlohmann_json::nlohmann_json)
set_source_files_properties(src/toy/models.cpp PROPERTIES COMPILE_DEFINITIONS
  "PONDER_SOURCE_TOY_DATA_DIR=\"${CMAKE_CURRENT_SOURCE_DIR}/data/toy\"")

# Writes the committed dev/test files (no LibTorch needed).
add_executable(ponder_toy_data tools/trainer/toy_data.cpp)
set_target_properties(ponder_toy_data PROPERTIES OUTPUT_NAME ponder-toy-data)
target_link_libraries(ponder_toy_data PRIVATE ponder_toy CLI11::CLI11)
target_compile_options(ponder_toy_data PRIVATE ${PONDER_WARNINGS})

# The trainer: built when LibTorch is installed (`make toy-models` installs it), never
# needed at run time. -DPONDER_BUILD_TRAINER=OFF skips it even then.
option(PONDER_BUILD_TRAINER "Build the toy-model trainer when LibTorch is found" ON)
if(PONDER_BUILD_TRAINER)
  find_package(Torch QUIET)
  if(Torch_FOUND)
    add_executable(ponder_train
      tools/trainer/main.cpp
      tools/trainer/llama_model.cpp
      tools/trainer/presets.cpp
      tools/trainer/batches.cpp
      tools/trainer/train_loop.cpp)
    set_target_properties(ponder_train PROPERTIES OUTPUT_NAME ponder-train)
    target_include_directories(ponder_train PRIVATE tools/trainer)
    target_link_libraries(ponder_train PRIVATE ponder_toy CLI11::CLI11 ${TORCH_LIBRARIES})
    target_compile_options(ponder_train PRIVATE ${PONDER_WARNINGS})
    set(PONDER_HAVE_TRAINER ON)
    message(STATUS "ponder: LibTorch found, building the toy-model trainer")
  else()
    message(STATUS "ponder: LibTorch not found, skipping the toy-model trainer (make toy-models installs it)")
  endif()
endif()
