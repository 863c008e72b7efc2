# Install layout and the Debian package (CPack DEB). Included at the end of the top-level
# CMakeLists.txt, after daemon/ (which installs courtrouted to sbin and courtroute to bin).
#
# The daemon's built-in defaults are absolute (/etc/courtroute/courtroute.toml,
# /usr/share/courtroute/courts.d, /var/lib/courtroute), so the layout is only complete with the
# prefix /usr, which is what the package uses (CPACK_PACKAGING_INSTALL_PREFIX). The config and
# the unit go to absolute directories, /etc/courtroute and systemd's unit directory, whatever
# prefix a build tree was configured with: the daemon looks for its config in /etc/courtroute
# and systemd does not read units from an arbitrary prefix. Both are cache variables.
#
#   DESTDIR=/tmp/root cmake --install build --prefix /usr     # a staged tree
#   cd build && cpack -G DEB                                   # courtroute_0.1.0_amd64.deb

set(COURTROUTE_CONFDIR "/etc/courtroute" CACHE PATH
  "Directory of courtroute.toml and the local courts.d drop-ins (the daemon's default config path)")

# Debian 12 ships units in /lib/systemd/system (the usrmerge move to /usr/lib came later);
# systemd.pc says where this system wants them.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_get_variable(_courtroute_pc_unitdir systemd systemdsystemunitdir)
endif()
if(NOT _courtroute_pc_unitdir)
  set(_courtroute_pc_unitdir "/lib/systemd/system")
endif()
set(COURTROUTE_SYSTEMD_UNITDIR "${_courtroute_pc_unitdir}" CACHE PATH "Directory for courtroute.service")

install(FILES ${PROJECT_SOURCE_DIR}/systemd/courtroute.service
  DESTINATION ${COURTROUTE_SYSTEMD_UNITDIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/packaging/courtroute-admin
  DESTINATION ${CMAKE_INSTALL_SBINDIR})

install(FILES ${PROJECT_SOURCE_DIR}/config/courtroute.toml
  DESTINATION ${COURTROUTE_CONFDIR})
# An empty drop-in directory for local court overrides, with a README saying how.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/courts.d-README
  DESTINATION ${COURTROUTE_CONFDIR}/courts.d RENAME README)

# The shipped registry: every federal CM/ECF court, one file each.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/courts.d/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/courtroute/courts.d
  FILES_MATCHING PATTERN "*.toml")

install(FILES ${PROJECT_SOURCE_DIR}/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# Debian policy 12.5/12.7: a copyright file and a compressed changelog in the doc directory.
set(_courtroute_changelog_gz "${CMAKE_CURRENT_BINARY_DIR}/changelog.gz")
add_custom_command(OUTPUT "${_courtroute_changelog_gz}"
  COMMAND gzip -9nc "${PROJECT_SOURCE_DIR}/packaging/debian/changelog" > "${_courtroute_changelog_gz}"
  DEPENDS "${PROJECT_SOURCE_DIR}/packaging/debian/changelog"
  COMMENT "Compressing the Debian changelog" VERBATIM)
add_custom_target(courtroute_changelog ALL DEPENDS "${_courtroute_changelog_gz}")
install(FILES "${_courtroute_changelog_gz}" "${PROJECT_SOURCE_DIR}/packaging/debian/copyright"
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- CPack: the Debian package -------------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "courtroute")
set(CPACK_PACKAGE_VENDOR "courtroute")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "credential-routing proxy for the federal courts' CM/ECF")
set(CPACK_PACKAGE_DESCRIPTION
  "courtrouted is a local forward proxy for the US federal courts' CM/ECF systems.
For each request it decides whose credentials apply (the user's PACER central
sign-on for NextGen courts, the court's own CM/ECF login for legacy courts),
logs in on the user's behalf and injects the session, keeping passwords,
tokens and session cookies away from the tools that use it. The package
installs the daemon, the courtroute admin CLI, a hardened systemd unit and
the registry of every federal CM/ECF court.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "amd64")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "courtroute maintainers <maintainers@courtroute.org>")
# Library dependencies come from dpkg-shlibdeps (dpkg-dev) on the packaged binaries; the
# maintainer scripts need adduser (postinst) and util-linux's setpriv (courtroute-admin).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, util-linux (>= 2.33)")
# ca-certificates: `courtroute ca --install` runs update-ca-certificates; libnss3-tools: its
# certutil puts the CA into browsers' NSS databases.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libnss3-tools")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
# 0644 for conffiles, 0755 for the scripts, whatever the checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
