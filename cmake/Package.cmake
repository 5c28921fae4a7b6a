# The Debian package (`make package` -> build/vigil_<version>_amd64.deb; docs/install.md):
# the install rules of cmake/Install.cmake under /usr, its Depends computed by dpkg-shlibdeps
# from the libraries the binary links, /etc/vigil/* as conffiles, and maintainer scripts
# (packaging/debian/) that create the state directory and the verifier's user and never
# enable or start a service. tests/packaging/deb_package_test.sh installs it into a throwaway root.
include_guard(GLOBAL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vigil)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "vigil")
set(CPACK_PACKAGE_CONTACT "vigil maintainers <vigil@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "integrity and runtime security for Linux hosts and containers")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "integrity and runtime security for Linux hosts and containers
 vigil signs and verifies files the way IMA and evmctl do (SM2/SM3, ECDSA, RSA); its agent
 measures and appraises what runs with fanotify on kernels without IMA, detects threats at run
 time with Falco-language rules on eBPF events, and serves a console; its verifier attests
 machines with a TPM 2.0 and releases secrets only to trusted ones.
 .
 Installing starts nothing: enable vigil-agent.service once `vigil agent --check-config
 /etc/vigil/agent.yaml` is happy with the configuration.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # vigil_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)   # Depends from the linked libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "systemd, logrotate")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The configuration's absolute paths (/etc/vigil) and the units' ExecStart= need a real DESTDIR
# install under /usr, not a relocated prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(vigil_debian ${CMAKE_BINARY_DIR}/packaging/debian)
file(MAKE_DIRECTORY ${vigil_debian})
foreach(script postinst prerm postrm)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/${script}.in ${vigil_debian}/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
# Every file installed below /etc is the administrator's to edit: dpkg keeps their changes.
file(WRITE ${vigil_debian}/conffiles
     "${VIGIL_CONFIG_DIR}/agent.yaml\n${VIGIL_CONFIG_DIR}/ima.policy\n${VIGIL_CONFIG_DIR}/verifier.env\n"
     "${VIGIL_LOGROTATE_DIR}/vigil-verifier\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${vigil_debian}/postinst ${vigil_debian}/prerm ${vigil_debian}/postrm
    ${vigil_debian}/conffiles)

include(CPack)
