# What `cmake --install` puts beside the binaries for the agent to run as a host daemon, and the
# Debian packages CPack builds from it (`cpack -G DEB` in the build tree): zkspool-agent (the
# binaries, the systemd unit, its system user, man pages, examples) and libzkspool-dev (the
# library, its headers and CMake package). Paths below lib/ are systemd's, not the multiarch
# library directory.
set(agent_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/zkspool-agent)

# The unit names the binary by its installed path, known only at install time: `cmake --install
# --prefix P` and CPack (prefix /usr, under DESTDIR) each get their own, written straight to the
# destination so that concurrent installs of one build tree do not share a file.
install(CODE "
  set(ZKSPOOL_AGENT_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/zkspool-agent.service\")
  message(STATUS \"Installing: \${unit}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/zkspool-agent.service.in\" \"\${unit}\" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit}\")
" COMPONENT agent)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/zkspool-agent.sysusers
        DESTINATION lib/sysusers.d RENAME zkspool-agent.conf COMPONENT agent)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/packaging/examples/ DESTINATION ${agent_docdir}/examples COMPONENT agent)
install(FILES ${PROJECT_SOURCE_DIR}/docs/deploy.md ${PROJECT_SOURCE_DIR}/docs/agent.md
              ${PROJECT_SOURCE_DIR}/docs/operations.md
        DESTINATION ${agent_docdir} COMPONENT agent)

# Man pages from the binaries' own --help and --version (help2man), so they cannot drift.
find_program(HELP2MAN help2man REQUIRED)
find_program(GZIP gzip REQUIRED)
foreach(tool zkspool-agent zkspoolctl)
  set(page ${PROJECT_BINARY_DIR}/man/${tool}.8.gz)
  add_custom_command(OUTPUT ${page}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${HELP2MAN} --no-info --section=8 --no-discard-stderr
            --include=${PROJECT_SOURCE_DIR}/packaging/man-${tool}.h2m --output=${PROJECT_BINARY_DIR}/man/${tool}.8
            $<TARGET_FILE:${tool}>
    COMMAND ${GZIP} -9nf ${PROJECT_BINARY_DIR}/man/${tool}.8
    DEPENDS ${tool} ${PROJECT_SOURCE_DIR}/packaging/man-${tool}.h2m
    COMMENT "man page ${tool}(8)")
  list(APPEND man_pages ${page})
endforeach()
add_custom_target(zkspool_man_pages ALL DEPENDS ${man_pages})
install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT agent)

set(CPACK_PACKAGE_NAME zkspool)
set(CPACK_PACKAGE_VENDOR "zkspool")
set(CPACK_PACKAGE_CONTACT "zkspool maintainers <zkspool@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keeps service registrations in ZooKeeper through ZooKeeper outages")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps: the runtime libraries the binaries link
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME zkspool-agent)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "zkspool agent: a host's ZooKeeper registrations, kept through outages
Holds this host's service registrations in Apache ZooKeeper through leader elections,
quorum loss, session expiry and its own restarts: every change is spooled durably first
(RocksDB) and applied once ZooKeeper answers. Includes zkspoolctl and a systemd unit.")
# postinst: the user; prerm: stop on removal (not on upgrade); postrm: systemd forgets the unit.
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libzkspool-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "librocksdb-dev, libzookeeper-mt-dev, libspdlog-dev, libfmt-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "zkspool library: register in ZooKeeper without failing when ZooKeeper does
The Registrar, Spool and SpoolReader C++20 API with its CMake package
(find_package(zkspool CONFIG)).")
include(CPack)
