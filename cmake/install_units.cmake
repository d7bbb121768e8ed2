# Runs at install time (install(CODE) includes it), so the units name the binaries and the
# config where this install puts them, whatever --prefix is given then. systemd 252's
# `systemd-analyze verify` fails a unit whose ExecStart binary does not exist.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(CORRAL_SYSCONFDIR "/etc")
else()
    set(CORRAL_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(CORRAL_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
set(CORRAL_DOCDIR "${CMAKE_INSTALL_PREFIX}/share/doc/corral")
foreach(unit corral.service corral@.service)
    configure_file("${CORRAL_SOURCE_DIR}/systemd/${unit}.in" "${CORRAL_BINARY_DIR}/systemd/${unit}"
                   @ONLY)
endforeach()
file(INSTALL "${CORRAL_BINARY_DIR}/systemd/corral.service" "${CORRAL_BINARY_DIR}/systemd/corral@.service"
             "${CORRAL_SOURCE_DIR}/systemd/corral.socket"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
file(INSTALL "${CORRAL_SOURCE_DIR}/conf/corral.toml" DESTINATION "${CORRAL_SYSCONFDIR}/corral")
file(INSTALL "${CORRAL_SOURCE_DIR}/conf/logrotate.d/corral"
     DESTINATION "${CORRAL_SYSCONFDIR}/logrotate.d")
