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
# Per tag [<kind>:<name>] of `tags`: <name> into names_var, the cases tagged with it into
# <prefix><name>, and those cases into all_cases.
macro(cases_of_named_tags kind tags names_var prefix)
  set(${names_var} "")
  foreach(tag IN LISTS ${tags})
    string(REGEX REPLACE "^\\[${kind}:(.*)\\]$" "\\1" name "${tag}")
    list(APPEND ${names_var} "${name}")
    cases_tagged("${kind}:${name}" "${prefix}${name}")
    list(APPEND all_cases ${${prefix}${name}})
  endforeach()
endmacro()
cases_of_named_tags(lock lock_tags lock_names cases_)
cases_of_named_tags(label label_tags label_names labelled_)
if(all_cases)
  list(REMOVE_DUPLICATES all_cases)
endif()

# Within the loop over the cases: appends to the list `values` the names of `names` whose list
# <prefix><name> holds the case, and a property `property` to props when it then differs from the
# target's `target_values`.
macro(add_case_property property values target_values names prefix)
  foreach(name IN LISTS ${names})
    if(case IN_LIST "${prefix}${name}")
      list(APPEND ${values} "${name}")
    endif()
  endforeach()
  if(NOT "${${values}}" STREQUAL "${${target_values}}")
    string(APPEND props " ${property} \"${${values}}\"")
  endif()
endmacro()

set(script "")
foreach(case IN LISTS all_cases)
  set(props "")
  set(case_labels ${labels})
  if(case IN_LIST soak_cases)
    list(APPEND case_labels soak)
  endif()
  add_case_property(LABELS case_labels labels label_names labelled_)
  if(case IN_LIST serial_cases)
    string(APPEND props " RUN_SERIAL TRUE")
  endif()
  set(locks ${target_locks})
  add_case_property(RESOURCE_LOCK locks target_locks lock_names cases_)
  if(props)
    string(APPEND script "set_tests_properties([==[${PREFIX}${case}]==] PROPERTIES${props})\n")
  endif()
endforeach()
file(WRITE "${OUT}" "${script}")
