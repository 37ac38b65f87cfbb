# Install rules, man pages, systemd integration and the Debian package.
#   cmake --install build --prefix DIR    binary, models, docs, man pages, unit
#   cpack --config build/CPackConfig.cmake -G DEB   callwatch_VERSION_ARCH.deb
# The installed binary finds its models at ../share/callwatch next to itself
# (CALLWATCH_MODELS_RELDIR), so a prefix can be copied or moved as a whole.
include(GNUInstallDirs)

file(RELATIVE_PATH CALLWATCH_MODELS_RELDIR "${CMAKE_INSTALL_FULL_BINDIR}"
     "${CMAKE_INSTALL_FULL_DATADIR}/callwatch")
target_compile_definitions(callwatch_core PRIVATE CALLWATCH_MODELS_RELDIR="${CALLWATCH_MODELS_RELDIR}")

# Readiness for systemd (Type=notify) when libsystemd is there.
pkg_check_modules(SYSTEMD IMPORTED_TARGET libsystemd)
if(SYSTEMD_FOUND)
  target_compile_definitions(callwatch PRIVATE CALLWATCH_HAVE_SYSTEMD=1)
  target_link_libraries(callwatch PRIVATE PkgConfig::SYSTEMD)
  set(CALLWATCH_SERVICE_TYPE notify)
else()
  set(CALLWATCH_SERVICE_TYPE simple)
endif()

# Man pages, built by the binary itself (see cmake/man.cmake).
set(CALLWATCH_MAN_DIR "${CMAKE_BINARY_DIR}/man")
add_custom_command(
  OUTPUT "${CALLWATCH_MAN_DIR}/callwatch.1.gz" "${CALLWATCH_MAN_DIR}/callwatch.ini.5.gz"
  COMMAND ${CMAKE_COMMAND} -DCALLWATCH=$<TARGET_FILE:callwatch> -DSRC=${PROJECT_SOURCE_DIR}
          -DOUT=${CALLWATCH_MAN_DIR} -DVERSION=${PROJECT_VERSION}
          -P ${PROJECT_SOURCE_DIR}/cmake/man.cmake
  DEPENDS callwatch ${PROJECT_SOURCE_DIR}/cmake/man.cmake ${PROJECT_SOURCE_DIR}/packaging/man/callwatch.1.in
          ${PROJECT_SOURCE_DIR}/packaging/man/callwatch.ini.5.in
  COMMENT "Generating the man pages")
add_custom_target(callwatch_man ALL
  DEPENDS "${CALLWATCH_MAN_DIR}/callwatch.1.gz" "${CALLWATCH_MAN_DIR}/callwatch.ini.5.gz")

install(TARGETS callwatch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
file(GLOB CALLWATCH_MODEL_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/models/*.json
     ${PROJECT_SOURCE_DIR}/models/*.ini ${PROJECT_SOURCE_DIR}/models/*.txt ${PROJECT_SOURCE_DIR}/models/*.flac)
install(FILES ${CALLWATCH_MODEL_FILES} DESTINATION ${CMAKE_INSTALL_DATADIR}/callwatch)
# `callwatch web`'s pages: [web] assets = web, in the models directory.
install(DIRECTORY models/web DESTINATION ${CMAKE_INSTALL_DATADIR}/callwatch)
install(FILES README.md docs/architecture.md docs/deployment.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES "${CALLWATCH_MAN_DIR}/callwatch.1.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES "${CALLWATCH_MAN_DIR}/callwatch.ini.5.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES packaging/callwatch.sysusers DESTINATION lib/sysusers.d RENAME callwatch.conf)
install(FILES packaging/callwatch.tmpfiles DESTINATION lib/tmpfiles.d RENAME callwatch.conf)
install(CODE "set(CW_SRC \"${PROJECT_SOURCE_DIR}\")
set(CW_BIN \"${CMAKE_BINARY_DIR}\")
set(CW_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(CW_SERVICE_TYPE \"${CALLWATCH_SERVICE_TYPE}\")
include(\"${PROJECT_SOURCE_DIR}/cmake/install-system.cmake\")")

# The Debian package: prefix /usr, so the config is /etc/callwatch/callwatch.ini
# (a conffile) and the unit /usr/lib/systemd/system/callwatch.service.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME callwatch)
set(CPACK_PACKAGE_VENDOR "callwatch")
set(CPACK_PACKAGE_CONTACT "callwatch maintainers <callwatch@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time speech-side sentiment monitor for contact-centre calls")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The speech model is data the binary opens by default, not a shared library;
# adduser: the postinst's way to the service user where systemd-sysusers is not
# there (Debian policy: a maintainer script that calls adduser depends on it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "pocketsphinx-en-us, adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, curl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
include(CPack)
