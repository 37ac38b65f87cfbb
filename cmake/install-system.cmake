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
# One folder per destination: installs to two prefixes may run at once.
string(MD5 where "$ENV{DESTDIR}${prefix}")
set(unit_dir "${CW_BIN}/packaging/${where}")
configure_file("${CW_SRC}/packaging/callwatch.service.in" "${unit_dir}/callwatch.service" @ONLY)
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES "${unit_dir}/callwatch.service")
file(INSTALL DESTINATION "${CW_ETCDIR}" TYPE FILE FILES "${CW_SRC}/packaging/callwatch.ini")
