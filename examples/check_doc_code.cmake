# cmake -DDOC=<file.md> -DSOURCE=<file.cpp> -P check_doc_code.cmake
# Fails unless the first ```cpp block of DOC is the text of SOURCE, byte for byte, so that a
# program shown in the documentation is the one the build compiles and CTest runs.
foreach(v DOC SOURCE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_doc_code: -D${v}=... is required")
  endif()
endforeach()
file(READ "${DOC}" doc)
file(READ "${SOURCE}" source)
set(open_fence "```cpp\n")
string(FIND "${doc}" "${open_fence}" start)
if(start EQUAL -1)
  message(FATAL_ERROR "${DOC}: no ```cpp block")
endif()
string(LENGTH "${open_fence}" fence_length)
math(EXPR start "${start} + ${fence_length}")
string(SUBSTRING "${doc}" ${start} -1 rest)
string(FIND "${rest}" "\n```" stop)
if(stop EQUAL -1)
  message(FATAL_ERROR "${DOC}: the first ```cpp block is not closed")
endif()
math(EXPR stop "${stop} + 1") # keep the block's last newline, as the file has it
string(SUBSTRING "${rest}" 0 ${stop} block)
if(NOT block STREQUAL source)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/doc_block.cpp" "${block}")
  message(FATAL_ERROR "The first ```cpp block of ${DOC} differs from ${SOURCE} "
                      "(the block is in ${CMAKE_CURRENT_BINARY_DIR}/doc_block.cpp; "
                      "diff them, and copy the file into the document)")
endif()
message(STATUS "${DOC}: its ```cpp block is ${SOURCE}")
