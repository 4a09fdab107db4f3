# Unity builds (CMake UNITY_BUILD) for the libraries where they were measured and checked:
# batches of 8 sources compile as one translation unit, so the Asio/json/std templates they share
# are instantiated and optimised once per batch instead of once per file (fedge_shared
# 141.9 -> 80.0 s CPU, fedge_release ~51 -> 29 s, fedge_ml_data + fedge_drift 19.2 -> 13.2 s, with
# the PCH of cmake/FedgePch.cmake).
#
# Only targets listed in FEDGE_UNITY_TARGETS. Sources are not edited for this: files whose
# anonymous-namespace names would clash in one batch are kept out with
# SKIP_UNITY_BUILD_INCLUSION. Known pair in fedge_shared: kLog in base/shutdown.cc and
# net/http_server.cc, which the current source order puts in different batches; if adding or
# moving a source makes the build fail with a redefinition, set SKIP_UNITY_BUILD_INCLUSION on one
# of the two files here, or configure with -DFEDGE_UNITY=OFF.
option(FEDGE_UNITY "Unity-build the libraries in FEDGE_UNITY_TARGETS" ON)
set(FEDGE_UNITY_TARGETS fedge_shared fedge_release fedge_ml_data fedge_drift)

function(fedge_apply_unity)
  if(NOT FEDGE_UNITY)
    return()
  endif()
  foreach(t IN LISTS FEDGE_UNITY_TARGETS)
    set_target_properties(${t} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endforeach()
endfunction()
