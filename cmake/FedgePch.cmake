# Precompiled headers for the build: the standard library and the heavy, stable third-party headers
# (Boost.Asio + SSL, nlohmann/json, FlatBuffers, GoogleTest), never project headers and never
# LibTorch. Build-time only: a precompiled header is the same text as the headers it replaces, so
# nothing a program computes changes.
#
# Four PCHs, each compiled once by a small owner target (fedge_pch_*) and reused by every target
# whose compile flags match it (REUSE_FROM: GCC accepts a PCH only if the defines and code
# generation flags match; with -Winvalid-pch, which CMake adds, a mismatch warns and falls back to
# the plain headers):
#   fedge_pch_std        standard library                        libraries and programs
#   fedge_pch_net        + Asio/SSL, json, FlatBuffers            libraries and programs that
#                                                                 mostly include shared/net/asio.h
#   fedge_pch_test_std   standard library + gtest                 test binaries
#   fedge_pch_test_net   + Asio/SSL, json, FlatBuffers + gtest    tests that mostly include Asio
# The small PCH is the default: loading the large one costs ~2 s of CPU per TU, which only pays
# off in translation units that include Asio (FEDGE_PCH_NET_TARGETS lists those targets).
#
# Targets that get no PCH: those that link LibTorch directly (fedge_ml, fedge_ml_nets_test: torch
# adds its own defines), and those that do not link fedge_shared (other flags).
#
# -DFEDGE_PCH=OFF builds without any of this. With ccache, PCHs need
# CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime.

option(FEDGE_PCH "Use precompiled headers for the standard library and third-party headers" ON)

set(FEDGE_PCH_STD_HEADERS
  # Boost 1.74's awaitable.hpp uses std::exchange without including <utility>: it comes first.
  <utility>
  <algorithm> <array> <atomic> <chrono> <cmath> <cstddef> <cstdint> <cstdio> <cstdlib> <cstring>
  <deque> <filesystem> <fstream> <functional> <limits> <map> <memory> <mutex> <numeric>
  <optional> <random> <set> <span> <sstream> <string> <string_view> <thread> <variant> <vector>
)
set(FEDGE_PCH_NET_HEADERS
  <boost/asio.hpp> <boost/asio/ssl.hpp> <nlohmann/json.hpp> <flatbuffers/flatbuffers.h>
)

# Targets whose translation units mostly include Boost.Asio (through shared/net/asio.h or
# headers that include it): they get the large PCH. Any other target gets the small one.
set(FEDGE_PCH_NET_TARGETS
  fedge_client_core fedge_client fedge_coordinator fedge_sim
  fedge-client fedge-coordinator fedgectl fedge-sim ingest_bench drift_bench
  fedge_test_support status_page_browser_test
  client_config_test client_camera_data_test client_inference_loop_test client_inference_test
  client_trainer_test client_drift_references_test
  drift_policy_test status_page_test rollout_manager_test round_schedule_test round_engine_test
  coordinator_tls_test round_test fault_injection_test resume_test fedgectl_test edge_client_test
  drift_test metrics_endpoint_test status_page_integration_test rollout_test prune_finetune_test
  shutdown_integration_test shutdown_test resolve_test scenario_test drift_sim_test
  release_sim_test
)

# fedge_pch_links(TARGET NAME OUT): OUT is TRUE if TARGET's compile flags come from NAME, i.e. NAME
# is in TARGET's link closure through usage requirements (not through $<LINK_ONLY:...>).
function(fedge_pch_links target name out)
  set(seen "")
  set(queue ${target})
  set(found FALSE)
  while(queue)
    list(POP_FRONT queue t)
    if(t STREQUAL name)
      set(found TRUE)
      break()
    endif()
    if(t MATCHES "^\\$<LINK_ONLY:" OR t IN_LIST seen OR NOT TARGET ${t})
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(type ${t} TYPE)
    set(deps "")
    if(t STREQUAL target AND NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(deps ${t} LINK_LIBRARIES)
    endif()
    get_target_property(ideps ${t} INTERFACE_LINK_LIBRARIES)
    foreach(d IN LISTS deps ideps)
      if(d AND NOT d MATCHES "-NOTFOUND$")
        list(APPEND queue ${d})
      endif()
    endforeach()
  endwhile()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

# fedge_pch_owner(NAME TEST HEADERS...): an object library that only compiles the PCH, with the
# compile flags of a target linking fedge_shared (and gtest if TEST). It copies fedge_shared's
# usage requirements instead of linking it, so that fedge_shared itself can use the PCH.
function(fedge_pch_owner name test)
  set(src ${CMAKE_BINARY_DIR}/pch/${name}.cc)
  file(CONFIGURE OUTPUT ${src} CONTENT "// Owner of the ${name} precompiled header.\n")
  add_library(${name} OBJECT ${src})
  target_compile_definitions(${name} PRIVATE
    $<TARGET_PROPERTY:fedge_shared,INTERFACE_COMPILE_DEFINITIONS>)
  target_compile_options(${name} PRIVATE $<TARGET_PROPERTY:fedge_shared,INTERFACE_COMPILE_OPTIONS>)
  target_include_directories(${name} PRIVATE
    $<TARGET_PROPERTY:fedge_shared,INTERFACE_INCLUDE_DIRECTORIES>)
  if(test)
    target_link_libraries(${name} PRIVATE GTest::gtest)
  endif()
  target_precompile_headers(${name} PRIVATE ${ARGN})
endfunction()

# fedge_apply_pch(): gives every C++ target of the project one of the four PCHs (see above).
# Called once from the top-level CMakeLists.txt after all targets exist.
function(fedge_apply_pch)
  if(NOT FEDGE_PCH)
    return()
  endif()
  fedge_pch_owner(fedge_pch_std FALSE ${FEDGE_PCH_STD_HEADERS})
  fedge_pch_owner(fedge_pch_net FALSE ${FEDGE_PCH_STD_HEADERS} ${FEDGE_PCH_NET_HEADERS})
  fedge_pch_owner(fedge_pch_test_std TRUE ${FEDGE_PCH_STD_HEADERS} <gtest/gtest.h>)
  fedge_pch_owner(fedge_pch_test_net TRUE
    ${FEDGE_PCH_STD_HEADERS} ${FEDGE_PCH_NET_HEADERS} <gtest/gtest.h>)

  set(dirs ${CMAKE_SOURCE_DIR})
  set(targets "")
  while(dirs)
    list(POP_FRONT dirs d)
    get_property(sub DIRECTORY ${d} PROPERTY SUBDIRECTORIES)
    get_property(ts DIRECTORY ${d} PROPERTY BUILDSYSTEM_TARGETS)
    list(APPEND dirs ${sub})
    list(APPEND targets ${ts})
  endwhile()

  foreach(t IN LISTS targets)
    if(t MATCHES "^fedge_pch_")
      continue()
    endif()
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY)$")
      continue()
    endif()
    # LibTorch's compile definitions would make any of these PCHs invalid for the target.
    get_target_property(own ${t} LINK_LIBRARIES)
    if(own AND ("torch" IN_LIST own OR "torch_library" IN_LIST own))
      continue()
    endif()
    fedge_pch_links(${t} fedge_shared shared)
    if(NOT shared AND NOT t STREQUAL "fedge_shared")
      continue()
    endif()
    fedge_pch_links(${t} GTest::gtest gtest)
    if(NOT gtest)
      fedge_pch_links(${t} GTest::gtest_main gtest)
    endif()
    set(owner fedge_pch_)
    if(gtest)
      string(APPEND owner test_)
    endif()
    if(t IN_LIST FEDGE_PCH_NET_TARGETS)
      string(APPEND owner net)
    else()
      string(APPEND owner std)
    endif()
    set_property(TARGET ${t} PROPERTY PRECOMPILE_HEADERS_REUSE_FROM ${owner})
    add_dependencies(${t} ${owner})
  endforeach()
endfunction()
