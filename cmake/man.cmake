# Build-time script (cmake -P): writes the gzipped man pages into OUT.
#   callwatch.1        from packaging/man/callwatch.1.in
#   callwatch.ini.5    from packaging/man/callwatch.ini.5.in, its options section
#                      printed by `callwatch config --man` from the option table,
#                      so the page lists exactly the options the binary accepts.
# Inputs: CALLWATCH (the built binary), SRC (source tree), OUT, VERSION.
execute_process(COMMAND "${CALLWATCH}" config --man
  OUTPUT_VARIABLE CW_OPTIONS RESULT_VARIABLE rc ERROR_VARIABLE errors)
if(NOT rc EQUAL 0 OR CW_OPTIONS STREQUAL "")
  message(FATAL_ERROR "callwatch config --man failed (${rc}): ${errors}")
endif()
set(CW_VERSION "${VERSION}")
file(MAKE_DIRECTORY "${OUT}")
foreach(page callwatch.1 callwatch.ini.5)
  configure_file("${SRC}/packaging/man/${page}.in" "${OUT}/${page}" @ONLY)
  # Debian ships pages gzipped with -9n (no name or time stamp: reproducible).
  execute_process(COMMAND gzip -9nf "${OUT}/${page}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${OUT}/${page} failed")
  endif()
endforeach()
