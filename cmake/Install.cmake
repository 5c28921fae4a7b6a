# Installing vigil on a host (docs/install.md). `make install` (DESTDIR, PREFIX) and the Debian
# package (`make package`, cmake/Package.cmake) run the same rules:
#
#   <prefix>/bin/vigil
#   /etc/vigil/agent.yaml, ima.policy, verifier.env                 the configuration (conffiles)
#   /etc/logrotate.d/vigil-verifier                                  the verifier's alert file
#   <prefix>/lib/systemd/system/vigil-agent.service, vigil-verifier.service
#   <prefix>/lib/sysusers.d/vigil.conf                               the verifier's user
#   <prefix>/share/vigil/rules/default.yaml                          the built-in rules, to read and copy
#   <prefix>/share/doc/vigil/                                        README, docs/, examples/ (policies)
#   <prefix>/share/man/man8/vigil.8, vigil-COMMAND.8                 generated from the CLI (`vigil __docs`)
#   <prefix>/share/bash-completion/completions/vigil, zsh: _vigil    generated likewise
#   /var/lib/vigil (0700)                                            the agent's state
#
# The configuration and state live at their absolute places whatever the prefix: every vigil
# tool, unit and document names /etc/vigil and /var/lib/vigil.
include_guard(GLOBAL)
include(GNUInstallDirs)

set(VIGIL_CONFIG_DIR "/etc/vigil" CACHE PATH "The agent's configuration directory (absolute)")
set(VIGIL_STATE_DIR "/var/lib/vigil" CACHE PATH "The agent's state directory (absolute), created 0700")
set(VIGIL_VERIFIER_STATE_DIR "/var/lib/vigil-verifier" CACHE PATH "The verifier service's state directory")
set(VIGIL_LOGROTATE_DIR "/etc/logrotate.d" CACHE PATH "logrotate's snippet directory")
set(VIGIL_SYSTEMD_UNIT_DIR "" CACHE PATH "systemd unit directory; empty: <prefix>/lib/systemd/system")
set(VIGIL_SYSUSERS_DIR "" CACHE PATH "sysusers.d directory; empty: <prefix>/lib/sysusers.d")

set(vigil_packaging ${PROJECT_SOURCE_DIR}/packaging)
set(vigil_generated ${CMAKE_BINARY_DIR}/generated)

# ---- man pages and completions, from the CLI definitions (src/cli/docgen.cpp) ----
set(vigil_docs_stamp ${vigil_generated}/docs.stamp)
# The pages' date: the checkout's last commit (reproducible), else the build's day.
execute_process(COMMAND git -C ${PROJECT_SOURCE_DIR} log -1 --format=%ct OUTPUT_VARIABLE vigil_docs_epoch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT vigil_docs_epoch MATCHES "^[0-9]+$")
  string(TIMESTAMP vigil_docs_epoch "%s" UTC)
endif()
add_custom_command(
  OUTPUT ${vigil_docs_stamp}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${vigil_generated}/man
  COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=${vigil_docs_epoch} $<TARGET_FILE:vigil> __docs --man-dir ${vigil_generated}/man
          --bash ${vigil_generated}/vigil.bash --zsh ${vigil_generated}/_vigil
  COMMAND ${CMAKE_COMMAND} -E touch ${vigil_docs_stamp}
  DEPENDS vigil
  COMMENT "Man pages and shell completions from vigil's command line"
  VERBATIM)
add_custom_target(vigil_docs ALL DEPENDS ${vigil_docs_stamp})

# ---- files ----
install(TARGETS vigil RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/config/default.yaml DESTINATION ${VIGIL_CONFIG_DIR} RENAME agent.yaml
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/policies/default.policy DESTINATION ${VIGIL_CONFIG_DIR} RENAME ima.policy
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${vigil_packaging}/verifier.env DESTINATION ${VIGIL_CONFIG_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${vigil_packaging}/logrotate/vigil-verifier DESTINATION ${VIGIL_LOGROTATE_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/rules/default.yaml DESTINATION ${CMAKE_INSTALL_DATADIR}/vigil/rules)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/policies/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/policies
        FILES_MATCHING PATTERN "*.policy")
install(FILES ${PROJECT_SOURCE_DIR}/config/default.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME agent.yaml)
install(DIRECTORY ${vigil_generated}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 FILES_MATCHING PATTERN "*.8")
install(FILES ${vigil_generated}/vigil.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME vigil)

# Files whose place or text depends on the prefix being installed to. CPack installs with its
# own prefix (/usr), so they are made when installing, not when configuring.
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(VIGIL_BINDIR \"\${prefix}/${CMAKE_INSTALL_BINDIR}\")
  set(VIGIL_DOC_DIR \"\${prefix}/${CMAKE_INSTALL_DOCDIR}\")
  set(VIGIL_CONFIG_DIR \"${VIGIL_CONFIG_DIR}\")
  set(VIGIL_VERIFIER_STATE_DIR \"${VIGIL_VERIFIER_STATE_DIR}\")
  set(unit_dir \"${VIGIL_SYSTEMD_UNIT_DIR}\")
  if(NOT unit_dir)
    set(unit_dir \"\${prefix}/lib/systemd/system\")
  endif()
  set(sysusers_dir \"${VIGIL_SYSUSERS_DIR}\")
  if(NOT sysusers_dir)
    set(sysusers_dir \"\${prefix}/lib/sysusers.d\")
  endif()
  # One directory per destination: a package build and an install may run side by side.
  string(MD5 units_key \"\$ENV{DESTDIR}\${prefix}\")
  set(units \"${vigil_generated}/units/\${units_key}\")
  foreach(unit vigil-agent.service vigil-verifier.service)
    configure_file(\"${vigil_packaging}/systemd/\${unit}.in\" \"\${units}/\${unit}\" @ONLY)
  endforeach()
  file(INSTALL DESTINATION \"\${unit_dir}\" TYPE FILE
       FILES \"\${units}/vigil-agent.service\" \"\${units}/vigil-verifier.service\")
  file(INSTALL DESTINATION \"\${sysusers_dir}\" TYPE FILE FILES \"${vigil_packaging}/sysusers/vigil.conf\")
  # zsh looks in vendor-completions for /usr, in site-functions for /usr/local and the rest.
  if(prefix STREQUAL \"/usr\")
    set(zsh_dir \"\${prefix}/share/zsh/vendor-completions\")
  else()
    set(zsh_dir \"\${prefix}/share/zsh/site-functions\")
  endif()
  file(INSTALL DESTINATION \"\${zsh_dir}\" TYPE FILE FILES \"${vigil_generated}/_vigil\")
  # The agent's state directory: root's only (the agent also makes it 0700 when it starts).
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}${VIGIL_STATE_DIR}\")
  file(CHMOD \"\$ENV{DESTDIR}${VIGIL_STATE_DIR}\" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  # Installing onto this very system (no DESTDIR, not a package build): create the verifier's
  # user and let systemd see the units. Nothing is enabled or started.
  if(\"\$ENV{DESTDIR}\" STREQUAL \"\" AND NOT CPACK_GENERATOR)
    find_program(sysusers systemd-sysusers)
    if(sysusers)
      execute_process(COMMAND \${sysusers} \"\${sysusers_dir}/vigil.conf\")
    endif()
    if(IS_DIRECTORY /run/systemd/system)
      execute_process(COMMAND systemctl daemon-reload)
    endif()
    message(STATUS \"vigil installed; nothing enabled or started. Next: vigil agent --check-config ${VIGIL_CONFIG_DIR}/agent.yaml && systemctl enable --now vigil-agent\")
  endif()
")

# What this install wrote, for `make uninstall`. CMake's own install_manifest.txt is rewritten
# by every install of this build tree, CPack's included; this record only by real installs
# (VIGIL_INSTALL_RECORD: elsewhere, as the tests do).
install(CODE "
  if(NOT CPACK_GENERATOR)
    if(NOT VIGIL_INSTALL_RECORD)
      set(VIGIL_INSTALL_RECORD \"${CMAKE_BINARY_DIR}/vigil_install_record.txt\")
    endif()
    string(REPLACE \";\" \"\\n\" record \"\${CMAKE_INSTALL_MANIFEST_FILES}\")
    file(WRITE \"\${VIGIL_INSTALL_RECORD}\" \"\${record}\\n\")
  endif()
")

# `make uninstall` (cmake --build build --target uninstall): every file the last install wrote,
# except configuration files the administrator changed.
configure_file(${PROJECT_SOURCE_DIR}/cmake/Uninstall.cmake.in ${CMAKE_BINARY_DIR}/cmake_uninstall.cmake @ONLY)
add_custom_target(uninstall COMMAND ${CMAKE_COMMAND} -P ${CMAKE_BINARY_DIR}/cmake_uninstall.cmake VERBATIM)
