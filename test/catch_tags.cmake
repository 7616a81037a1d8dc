# Run after each test executable is built (cmake -P, from dbuser_add_test): the properties of the
# Catch2 test cases whose tags change how ctest runs them, written to OUT as set_tests_properties
# calls on ctest names (<PREFIX><case name>), which the target's property file includes after the
# target-wide properties.
#   [soak]          a long soak-style case: label `soak` besides the target's labels (make test
#                   leaves it out; make test-soak and CI run it)
#   [serial]        the case changes something every test shares (it stops PostgreSQL, ...):
#                   RUN_SERIAL
#   [lock:<name>]   RESOURCE_LOCK <name> besides the target's locks: the case excludes the other
#                   holders of <name>, not the rest
#   [label:<name>]  label <name> besides the target's labels (e.g. k8s-matrix: the cases that the
#                   Kubernetes version matrix runs, hack/k8s-matrix.sh)
# Input: -D EXE=<test executable> -D PREFIX=<ctest name prefix> -D OUT=<file>
#        -D LABELS=<the target's labels, |-separated> -D LOCKS=<the target's locks, |-separated>
cmake_minimum_required(VERSION 3.16) # the policies of a script: IN_LIST, empty list elements
string(REPLACE "|" ";" labels "${LABELS}")
string(REPLACE "|" ";" target_locks "${LOCKS}")

function(cases_tagged tag out_var)
  execute_process(COMMAND "${EXE}" "[${tag}]" --list-test-names-only
    OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  # Catch2 v2 exits with the number of test cases listed.
  if(NOT rc MATCHES "^[0-9]+$")
    message(FATAL_ERROR "${EXE} [${tag}] --list-test-names-only: ${rc}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  list(FILTER lines EXCLUDE REGEX "^$")
  set(${out_var} "${lines}" PARENT_SCOPE)
endfunction()

execute_process(COMMAND "${EXE}" --list-tags OUTPUT_VARIABLE tag_out RESULT_VARIABLE rc)
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "${EXE} --list-tags: ${rc}")
endif()
string(REGEX MATCHALL "\\[lock:[A-Za-z0-9_]+\\]" lock_tags "${tag_out}")
list(REMOVE_DUPLICATES lock_tags)
string(REGEX MATCHALL "\\[label:[A-Za-z0-9_-]+\\]" label_tags "${tag_out}")
list(REMOVE_DUPLICATES label_tags)

cases_tagged(soak soak_cases)
cases_tagged(serial serial_cases)
set(all_cases ${soak_cases} ${serial_cases})
set(lock_names "")
foreach(tag IN LISTS lock_tags)
  string(REGEX REPLACE "^\\[lock:(.*)\\]$" "\\1" lock "${tag}")
  list(APPEND lock_names "${lock}")
  cases_tagged("lock:${lock}" "cases_${lock}")
  list(APPEND all_cases ${cases_${lock}})
endforeach()
set(label_names "")
foreach(tag IN LISTS label_tags)
  string(REGEX REPLACE "^\\[label:(.*)\\]$" "\\1" label "${tag}")
  list(APPEND label_names "${label}")
  cases_tagged("label:${label}" "labelled_${label}")
  list(APPEND all_cases ${labelled_${label}})
endforeach()
if(all_cases)
  list(REMOVE_DUPLICATES all_cases)
endif()

set(script "")
foreach(case IN LISTS all_cases)
  set(props "")
  set(case_labels ${labels})
  if(case IN_LIST soak_cases)
    list(APPEND case_labels soak)
  endif()
  foreach(label IN LISTS label_names)
    if(case IN_LIST "labelled_${label}")
      list(APPEND case_labels "${label}")
    endif()
  endforeach()
  if(NOT "${case_labels}" STREQUAL "${labels}")
    string(APPEND props " LABELS \"${case_labels}\"")
  endif()
  if(case IN_LIST serial_cases)
    string(APPEND props " RUN_SERIAL TRUE")
  endif()
  set(locks ${target_locks})
  foreach(lock IN LISTS lock_names)
    if(case IN_LIST "cases_${lock}")
      list(APPEND locks "${lock}")
    endif()
  endforeach()
  if(NOT "${locks}" STREQUAL "${target_locks}")
    string(APPEND props " RESOURCE_LOCK \"${locks}\"")
  endif()
  if(props)
    string(APPEND script "set_tests_properties([==[${PREFIX}${case}]==] PROPERTIES${props})\n")
  endif()
endforeach()
file(WRITE "${OUT}" "${script}")
