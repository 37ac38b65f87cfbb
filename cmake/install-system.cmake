# Install-time script (cmake --install, cpack): the files whose contents or
# place depend on the prefix chosen then rather than at configure time.
#   <prefix>/lib/systemd/system/callwatch.service   ExecStart = <prefix>/bin/callwatch
#   <etc>/callwatch/callwatch.ini                   the service's configuration
# where <etc> is /etc for the prefix /usr (a distribution package) and
# <prefix>/etc otherwise. Inputs: CW_SRC, CW_BIN, CW_BINDIR (relative),
# CW_SERVICE_TYPE. file(INSTALL) adds $DESTDIR itself.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
set(CW_BINDIR "${prefix}/${CW_BINDIR}")
set(CW_ETCDIR "${etc}/callwatch")
configure_file("${CW_SRC}/packaging/callwatch.service.in" "${CW_BIN}/packaging/callwatch.service" @ONLY)
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES "${CW_BIN}/packaging/callwatch.service")
file(INSTALL DESTINATION "${CW_ETCDIR}" TYPE FILE FILES "${CW_SRC}/packaging/callwatch.ini")
