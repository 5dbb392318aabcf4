# Overlay port built from this source tree: vcpkg install safetensors --overlay-ports=packaging/vcpkg/ports
# Header-only: one release configuration, no debug tree.
set(VCPKG_BUILD_TYPE release)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)

# SAFETENSORS_PORT_OPTIONS: packaging/check_vcpkg_layout.cmake (CTest) installs with these too.
set(SAFETENSORS_PORT_OPTIONS
  -DSAFETENSORS_BUILD_TESTS=OFF
  -DSAFETENSORS_BUILD_EXAMPLES=OFF
  -DSAFETENSORS_COMPILED=OFF
  -DSAFETENSORS_INSTALL=ON)
vcpkg_cmake_configure(SOURCE_PATH "${SOURCE_PATH}" OPTIONS ${SAFETENSORS_PORT_OPTIONS})
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/safetensors)
vcpkg_fixup_pkgconfig()

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc")  # the license goes to copyright below
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
